package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// az parses its arguments with argparse, which cobra does not copy in two
// ways that scripts written for az rely on:
//
//   - list flags take several space-separated values (`--address-prefixes
//     10.0.0.0/16 10.1.0.0/16`, `--service-endpoints ""`);
//   - three-state flags take an optional true/false (`--admin-enabled`,
//     `--admin-enabled false`).
//
// expandArgs rewrites such arguments into single `--flag=value` arguments for
// cobra, using the flag annotations below. It also splits a subcommand glued to
// a flag (`list--name`, a typo in a published walkthrough).

const (
	annList     = "moat/list"
	annTriState = "moat/tristate"
	annAlias    = "moat/alias"
)

// listSep separates the values of one occurrence of a list flag.
const listSep = "\x00"

func expandArgs(root *cobra.Command, args []string) ([]string, error) {
	cmd := root
	var out []string
	for i := 0; i < len(args); {
		a := args[i]
		i++
		if a == "--" {
			out = append(out, args[i-1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if sub := subcommand(cmd, a); sub != nil {
				cmd = sub
				out = append(out, a)
				continue
			}
			if name, flag, ok := gluedFlag(cmd, a); ok {
				cmd = subcommand(cmd, name)
				out = append(out, name)
				a = flag // and handle the flag as if it had been separate
			} else {
				out = append(out, a)
				continue
			}
		}
		var err error
		out, i, err = expandFlag(cmd, args, out, a, i)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// expandFlag handles flag argument a, which args[i:] follow.
func expandFlag(cmd *cobra.Command, args, out []string, a string, i int) ([]string, int, error) {
	name, hasValue := a, false
	if k := strings.IndexByte(a, '='); k >= 0 {
		name, hasValue = a[:k], true
	}
	f := lookupFlag(cmd, name)
	if f == nil || hasValue || (!strings.HasPrefix(name, "--") && len(name) > 2) {
		return append(out, a), i, nil
	}
	switch {
	case f.Annotations[annList] != nil:
		var vals []string
		for i < len(args) && (args[i] == "" || !strings.HasPrefix(args[i], "-")) {
			vals = append(vals, args[i])
			i++
		}
		if len(vals) == 0 {
			return nil, i, fmt.Errorf("argument --%s: expected at least one value (use --%s \"\" for none)", f.Name, f.Name)
		}
		return append(out, "--"+f.Name+"="+strings.Join(vals, listSep)), i, nil
	case f.Annotations[annTriState] != nil:
		if i < len(args) && isBoolWord(args[i]) {
			return append(out, "--"+f.Name+"="+args[i]), i + 1, nil
		}
		if i < len(args) && !strings.HasPrefix(args[i], "-") {
			return nil, i, fmt.Errorf("argument --%s: invalid choice %q (choose from true, false)", f.Name, args[i])
		}
		return append(out, "--"+f.Name), i, nil
	case f.NoOptDefVal == "" && i < len(args):
		// A flag that takes a value: copy the value so that it is never
		// mistaken for a subcommand.
		return append(out, a, args[i]), i + 1, nil
	}
	return append(out, a), i, nil
}

func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

var gluedRE = regexp.MustCompile(`^([a-z][a-z-]*?)(--[a-z][a-z-]*)$`)

// gluedFlag splits "list--name" into the subcommand "list" and the flag
// "--name" when both exist.
func gluedFlag(cmd *cobra.Command, a string) (string, string, bool) {
	m := gluedRE.FindStringSubmatch(a)
	if m == nil {
		return "", "", false
	}
	sub := subcommand(cmd, m[1])
	if sub == nil || lookupFlag(sub, m[2]) == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// lookupFlag finds "--name" or "-n" among cmd's flags and inherited flags.
func lookupFlag(cmd *cobra.Command, arg string) *pflag.Flag {
	for _, fs := range []*pflag.FlagSet{cmd.Flags(), cmd.InheritedFlags()} {
		if strings.HasPrefix(arg, "--") {
			if f := fs.Lookup(arg[2:]); f != nil {
				return f
			}
		} else if len(arg) == 2 {
			if f := fs.ShorthandLookup(arg[1:]); f != nil {
				return f
			}
		}
	}
	return nil
}

func isBoolWord(s string) bool {
	_, err := parseBool(s)
	return err == nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

// listValue is a flag taking one or more values per occurrence (argparse nargs='+').
type listValue struct{ groups [][]string }

func (l *listValue) Set(s string) error {
	l.groups = append(l.groups, strings.Split(s, listSep))
	return nil
}
func (l *listValue) Type() string { return "values" }
func (l *listValue) String() string {
	if l == nil || len(l.groups) == 0 {
		return ""
	}
	return strings.Join(l.values(), " ")
}

// values returns all values, without empty ones.
func (l *listValue) values() []string {
	var vs []string
	for _, g := range l.groups {
		for _, v := range g {
			if v != "" {
				vs = append(vs, v)
			}
		}
	}
	return vs
}

// triBool is a three-state flag: unset, true or false (az's get_three_state_flag).
type triBool struct{ set, val bool }

func (t *triBool) Set(s string) error {
	v, err := parseBool(s)
	if err != nil {
		return fmt.Errorf("use true or false")
	}
	t.set, t.val = true, v
	return nil
}
func (t *triBool) Type() string { return "bool" }
func (t *triBool) String() string {
	if t == nil || !t.set {
		return ""
	}
	return fmt.Sprint(t.val)
}

// listFlag adds a list flag (several values after one flag, or the flag repeated).
func listFlag(cmd *cobra.Command, name, alias, usage string) {
	cmd.Flags().Var(&listValue{}, name, usage)
	f := cmd.Flags().Lookup(name)
	f.Annotations = map[string][]string{annList: {"true"}}
	if alias != "" {
		f.Annotations[annAlias] = []string{alias}
		cmd.Flags().Var(f.Value, alias, usage)
		a := cmd.Flags().Lookup(alias)
		a.Annotations = f.Annotations
		a.Hidden = true
	}
}

// given reports whether flag name, or its alias, was given.
func given(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	if f == nil {
		return false
	}
	if f.Changed {
		return true
	}
	for _, a := range f.Annotations[annAlias] {
		if cmd.Flags().Changed(a) {
			return true
		}
	}
	return false
}

// triFlag adds a three-state flag: --name alone means true.
func triFlag(cmd *cobra.Command, name, usage string) {
	cmd.Flags().Var(&triBool{}, name, usage+" (true or false)")
	f := cmd.Flags().Lookup(name)
	f.NoOptDefVal = "true"
	f.Annotations = map[string][]string{annTriState: {"true"}}
}
