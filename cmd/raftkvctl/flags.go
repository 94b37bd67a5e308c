package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// flagSet is the standard library's flag.FlagSet with what etcdctl users
// expect on top: long and short names for one flag ("--recursive, -r"),
// both "-" and "--" prefixes, flags anywhere among the arguments
// ("set /k v --ttl 5"), "--" ending the flags, and help lines written as
// "--name value  usage".
type flagSet struct {
	fs   *flag.FlagSet
	defs []*flagDef
}

type flagDef struct {
	names []string // long name first
	arg   string   // the value's placeholder; "" for a bool flag
	usage string
	def   string // default shown in help; "" for none
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flagSet{fs: fs}
}

// add registers v under every name in names ("recursive,r").
func (f *flagSet) add(v flag.Value, names, arg, usage, def string) {
	d := &flagDef{names: strings.Split(names, ","), arg: arg, usage: usage, def: def}
	for _, n := range d.names {
		f.fs.Var(v, n, usage)
	}
	f.defs = append(f.defs, d)
}

func (f *flagSet) boolVar(p *bool, names, usage string) {
	f.add((*boolValue)(p), names, "", usage, "")
}

func (f *flagSet) stringVar(p *string, names, arg, usage string) {
	f.add((*stringValue)(p), names, arg, usage, *p)
}

// listVar is a list of names: the flag may be repeated, and each value
// may hold several, comma-separated ("--roles a,b --roles c").
func (f *flagSet) listVar(p *[]string, names, arg, usage string) {
	f.add((*listValue)(p), names, arg, usage, "")
}

// ttlVar is a TTL in whole seconds: the clearest error for a bad one.
func (f *flagSet) ttlVar(p *uint64, names, usage string) {
	f.add(&uintValue{p: p, what: "a whole number of seconds"}, names, "seconds", usage, "")
}

func (f *flagSet) indexVar(p *uint64, names, usage string) {
	f.add(&uintValue{p: p, what: "an index (a whole number)"}, names, "index", usage, "")
}

func (f *flagSet) durationVar(p *time.Duration, names, usage string) {
	f.add((*durationValue)(p), names, "duration", usage, p.String())
}

// parse reads flags and arguments from args. Flags may come anywhere until
// "--" or, if stopAfter > 0, until that many arguments have been seen
// (exec-watch: the flags after its command belong to the command). It
// returns the arguments.
func (f *flagSet) parse(args []string, stopAfter int) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if stopAfter > 0 && len(pos) >= stopAfter {
			return append(pos, args[i:]...), nil
		}
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		value, hasValue := "", false
		if j := strings.IndexByte(name, '='); j >= 0 {
			name, value, hasValue = name[:j], name[j+1:], true
		}
		fl := f.fs.Lookup(name)
		if fl == nil || name == "" {
			if _, err := strconv.ParseFloat(a, 64); err == nil {
				return nil, fmt.Errorf(`unknown flag %s (for a value that starts with "-", put "--" before the arguments)`, a)
			}
			return nil, fmt.Errorf("unknown flag %s", a)
		}
		if bv, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && bv.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a value", dashes(name))
			}
			i++
			value = args[i]
		}
		if err := fl.Value.Set(value); err != nil {
			return nil, fmt.Errorf("invalid value %q for %s: %v", value, dashes(name), err)
		}
	}
	return pos, nil
}

// dashes writes a flag name as the help does: "-r", "--ttl".
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// writeHelp lists the flags, one a line, aligned.
func (f *flagSet) writeHelp(w io.Writer, indent string) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	for _, d := range f.defs {
		var names []string
		for _, n := range d.names {
			names = append(names, dashes(n))
		}
		// Short names first, as in "-r, --recursive".
		if len(names) > 1 && len(d.names[len(d.names)-1]) == 1 {
			names = append([]string{names[len(names)-1]}, names[:len(names)-1]...)
		}
		left := strings.Join(names, ", ")
		if d.arg != "" {
			left += " " + d.arg
		}
		usage := d.usage
		if d.def != "" {
			usage += fmt.Sprintf(" (default %s)", d.def)
		}
		fmt.Fprintf(tw, "%s%s\t%s\n", indent, left, usage)
	}
	tw.Flush()
}

type boolValue bool

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*b = boolValue(v)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

type listValue []string

func (l *listValue) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
func (l *listValue) String() string { return strings.Join(*l, ",") }

type uintValue struct {
	p    *uint64
	what string
}

func (u *uintValue) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > math.MaxInt64 {
		return errors.New("want " + u.what)
	}
	*u.p = v
	return nil
}

func (u *uintValue) String() string {
	if u.p == nil {
		return "0"
	}
	return strconv.FormatUint(*u.p, 10)
}

type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return errors.New("want a positive duration such as 2s or 500ms")
	}
	*d = durationValue(v)
	return nil
}
func (d *durationValue) String() string { return time.Duration(*d).String() }
