package deps

import (
	"bufio"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/raftkv/raftkv"

// lower are the packages that must stay free of the network, processes and
// metrics (with their sub-packages).
var lower = []string{"raft", "kv", "log", "vfs", "storage", "server/node", "internal/msgpbuf", "internal/plant"}

// forbidden are the imports lower packages may not reach.
var forbidden = regexp.MustCompile(`^(net|net/http|os/exec|github\.com/prometheus/.*)$`)

// pure are the packages that start no goroutine and read no clock.
var pure = []string{"raft", "server/node"}

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// list runs go list -json over the module: each package with its direct
// imports and its transitive dependencies.
func list(t *testing.T) []pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the packages: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-json", module+"/...")
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func under(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// layout reads the README's layout table: the packages of each row, top to
// bottom.
func layout(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	in := false
	cell := regexp.MustCompile("`([a-z][a-z0-9/-]*)`")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "## Layout":
			in = true
		case in && strings.HasPrefix(line, "## "):
			in = false
		case in && strings.HasPrefix(line, "| `"):
			first := strings.Split(line, "|")[1]
			var row []string
			for _, m := range cell.FindAllStringSubmatch(first, -1) {
				row = append(row, m[1])
			}
			rows = append(rows, row)
		}
	}
	if len(rows) < 10 {
		t.Fatalf("the README's layout table has %d rows; is the \"## Layout\" section still there?", len(rows))
	}
	return rows
}

// rowOf is the row of the longest package prefix of path, or -1.
func rowOf(rows [][]string, path string) int {
	best, bestLen := -1, -1
	for i, row := range rows {
		for _, p := range row {
			if (path == p || strings.HasPrefix(path, p+"/")) && len(p) > bestLen {
				best, bestLen = i, len(p)
			}
		}
	}
	return best
}

// TestImportsPointDown: no package imports one above it in the README's
// layout table.
func TestImportsPointDown(t *testing.T) {
	rows := layout(t)
	for _, p := range list(t) {
		from := rel(p.ImportPath)
		fr := rowOf(rows, from)
		if fr < 0 {
			t.Errorf("%s is in no row of the README's layout table; add it", from)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := rel(imp)
			if tr := rowOf(rows, to); tr >= 0 && tr < fr {
				t.Errorf("%s imports %s, which is above it in the README's layout table", from, to)
			}
		}
	}
}

// TestLowerPackagesStayOffTheNetwork: the packages below the server reach no
// network, process or metrics package, even indirectly.
func TestLowerPackagesStayOffTheNetwork(t *testing.T) {
	checked := 0
	for _, p := range list(t) {
		if !under(rel(p.ImportPath), lower) {
			continue
		}
		checked++
		for _, d := range p.Deps {
			if forbidden.MatchString(d) {
				t.Errorf("%s imports %s (directly or through another package)", rel(p.ImportPath), d)
			}
		}
	}
	if checked < len(lower) {
		t.Fatalf("checked %d packages, want at least %d", checked, len(lower))
	}
}

// clockCalls are the functions of package time that read or wait on the
// clock.
var clockCalls = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTicker", "NewTimer"}

// TestPureCoreHasNoGoroutinesOrClock: raft and the node core start no
// goroutine, read no clock (time enters as Tick and as arguments) and do
// not import os.
func TestPureCoreHasNoGoroutinesOrClock(t *testing.T) {
	files := 0
	for _, p := range list(t) {
		if !under(rel(p.ImportPath), pure) {
			continue
		}
		// Files come in through vfs, which the caller hands in.
		if slices.Contains(p.Imports, "os") {
			t.Errorf("%s imports os", rel(p.ImportPath))
		}
		for _, name := range p.GoFiles {
			files++
			for _, problem := range impurities(t, filepath.Join(p.Dir, name)) {
				t.Errorf("%s/%s: %s", rel(p.ImportPath), name, problem)
			}
		}
	}
	if files < 10 {
		t.Fatalf("checked %d files of the pure core, want at least 10", files)
	}
}

// impurities lists the go statements and clock calls in a Go file.
func impurities(t *testing.T, path string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	timeName := ""
	for _, imp := range f.Imports {
		if imp.Path.Value == `"time"` {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			out = append(out, fset.Position(n.Pos()).String()+": starts a goroutine")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName && slices.Contains(clockCalls, n.Sel.Name) {
				out = append(out, fset.Position(n.Pos()).String()+": reads the clock (time."+n.Sel.Name+")")
			}
		}
		return true
	})
	return out
}

// TestImpuritiesFound proves the source check live on a file that breaks
// both rules.
func TestImpuritiesFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.go")
	src := "package bad\n\nimport clock \"time\"\n\nfunc f() {\n\tgo f()\n\t_ = clock.Now()\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := impurities(t, path); len(got) != 2 {
		t.Fatalf("found %q, want a goroutine and a clock read", got)
	}
}

// TestRowOf proves the layout rule live: a sub-package belongs to its
// parent's row unless it has one of its own, and an upward import is seen.
func TestRowOf(t *testing.T) {
	rows := [][]string{{"server"}, {"server/node"}, {"kv"}, {"raft"}}
	cases := map[string]int{"server": 0, "server/clustertest": 0, "server/node": 1, "raft/quorum": 3, "visualizer": -1}
	for path, want := range cases {
		if got := rowOf(rows, path); got != want {
			t.Errorf("rowOf(%s) = %d, want %d", path, got, want)
		}
	}
	if rowOf(rows, "kv") <= rowOf(rows, "server/node") {
		t.Error("kv is not below server/node")
	}
}
