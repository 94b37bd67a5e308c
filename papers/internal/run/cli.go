package run

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Main runs a reproduction's runMain on the process's arguments and
// output; on an error it prints it after name and exits with status 1.
func Main(name string, runMain func(args []string, stdout, stderr io.Writer) error) {
	if err := runMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Flags is the command line every reproduction has: -out DIR (default
// papers/<name>) and -j N. A reproduction adds its own flags to the
// FlagSet before Parse.
type Flags struct {
	*flag.FlagSet
	Out  *string
	Jobs *int
}

// NewFlags is the flag set of reproduction name, printing its usage and
// errors to stderr; outHelp and jobsHelp describe -out and -j.
func NewFlags(name string, stderr io.Writer, outHelp, jobsHelp string) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &Flags{
		FlagSet: fs,
		Out:     fs.String("out", filepath.Join("papers", name), outHelp),
		Jobs:    fs.Int("j", 0, jobsHelp),
	}
}

// Parse parses args and refuses positional arguments.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", f.Arg(0))
	}
	return nil
}

// WriteResults writes md to results.md in dir and prints it to stdout.
func WriteResults(dir, md string, stdout io.Writer) error {
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprint(stdout, md)
	return nil
}
