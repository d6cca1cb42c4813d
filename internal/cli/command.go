package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// spec describes one leaf command; leaf builds it. Commands return their
// result (printed with --output and --query, table through table) or nil
// for nothing to print.
type spec struct {
	use, short, example string
	// flags adds the command's own flags.
	flags func(cmd *cobra.Command)
	// required are flags that must be given, as "name" or "name/-n" for the
	// error message.
	required []string
	// group adds --resource-group/-g (default "default").
	group bool
	run   func(x *exec) (any, error)
	table tableFunc
}

// exec is one run of a command.
type exec struct {
	cmd *cobra.Command
	c   *client
}

func leaf(s spec) *cobra.Command {
	cmd := &cobra.Command{
		Use:     s.use,
		Short:   s.short,
		Example: s.example,
		Args:    noArgs,
	}
	if s.group {
		groupFlag(cmd)
	}
	if s.flags != nil {
		s.flags(cmd)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var missing []string
		for _, r := range s.required {
			name, _, _ := strings.Cut(r, "/")
			if !given(cmd, name) || cmd.Flags().Lookup(name).Value.String() == "" {
				missing = append(missing, "--"+r)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("the following arguments are required: %s", strings.Join(missing, ", "))
		}
		if err := checkOutputFlags(cmd); err != nil {
			return err
		}
		c, err := newClient(cmd)
		if err != nil {
			return err
		}
		res, err := s.run(&exec{cmd: cmd, c: c})
		if err != nil || res == nil {
			return err
		}
		return render(cmd, res, s.table)
	}
	return cmd
}

// noArgs refuses positional arguments with az's message.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unrecognized arguments: %s", strings.Join(args, " "))
	}
	return nil
}

// parent makes a command group. Run alone it prints its help; with an
// unknown subcommand it fails.
func parent(use, short string, children ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return errors.New(msg)
		}}
	cmd.AddCommand(children...)
	return cmd
}

func groupFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("resource-group", "g", defaultGroup, "name of the resource group")
}

// defaultGroup is the resource group every fresh server has.
const defaultGroup = "default"

func (x *exec) str(name string) string {
	v, _ := x.cmd.Flags().GetString(name)
	return v
}

// changed reports whether flag name (or its alias) was given.
func (x *exec) changed(name string) bool { return given(x.cmd, name) }

func (x *exec) group() string { return x.str("resource-group") }

// list returns the values of a list flag.
func (x *exec) list(name string) []string {
	return x.cmd.Flags().Lookup(name).Value.(*listValue).values()
}

// listGroups returns the values of a list flag, one slice per occurrence.
func (x *exec) listGroups(name string) [][]string {
	return x.cmd.Flags().Lookup(name).Value.(*listValue).groups
}

// tri returns a three-state flag: its value and whether it was given.
func (x *exec) tri(name string) (val, set bool) {
	t := x.cmd.Flags().Lookup(name).Value.(*triBool)
	return t.val, t.set
}

// enum returns the canonical spelling of a flag's value among choices
// (case-insensitive, as az), "" when the flag was not given.
func (x *exec) enum(name string, choices ...string) (string, error) {
	v := x.str(name)
	if !x.changed(name) {
		return "", nil
	}
	for _, c := range choices {
		if strings.EqualFold(v, c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("argument --%s: invalid choice %q (choose from %s)", name, v, strings.Join(choices, ", "))
}

// warn prints a warning line on stderr, as az does.
func (x *exec) warn(format string, args ...any) {
	if quiet, _ := x.cmd.Flags().GetBool("only-show-errors"); quiet {
		return
	}
	fmt.Fprintf(x.cmd.ErrOrStderr(), "WARNING: "+format+"\n", args...)
}

// tags returns --tags as an object ("" alone clears the tags).
func (x *exec) tags() map[string]string {
	t := map[string]string{}
	for _, kv := range x.list("tags") {
		k, v, _ := strings.Cut(kv, "=")
		t[k] = v
	}
	return t
}

func tagsFlag(cmd *cobra.Command) {
	listFlag(cmd, "tags", "", `space-separated tags: key[=value] [key[=value] ...]; "" clears them`)
}

// yesFlag adds --yes/-y.
func yesFlag(cmd *cobra.Command) {
	cmd.Flags().BoolP("yes", "y", false, "do not prompt for confirmation")
}

// confirm asks before a destructive command unless --yes was given. Like az,
// it fails when there is no terminal to ask on.
func (x *exec) confirm(question string) error {
	if yes, _ := x.cmd.Flags().GetBool("yes"); yes {
		return nil
	}
	in := x.cmd.InOrStdin()
	if f, ok := in.(*os.File); ok {
		st, err := f.Stat()
		if err != nil || st.Mode()&os.ModeCharDevice == 0 {
			return fmt.Errorf("%s Unable to prompt for confirmation as no tty is available; pass --yes", question)
		}
	}
	fmt.Fprintf(x.cmd.ErrOrStderr(), "%s (y/n): ", question)
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("operation cancelled")
}

// location is --location, else the location of resource group rg, else ""
// (the server's default).
func (x *exec) location(rg string) string {
	if l := x.str("location"); l != "" {
		return l
	}
	gp, err := x.c.groupPath(rg)
	if err != nil {
		return ""
	}
	g, _, err := x.c.get(gp)
	if err != nil {
		return ""
	}
	l, _ := g["location"].(string)
	return l
}

func locationFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("location", "l", "", "location (default: the resource group's)")
}

// modify reads the resource at path, lets change alter it and write it back
// (method PATCH or PUT, the body change returns) with If-Match. A write that
// loses a race (412) is retried from the read. change returns a nil body
// when there is nothing to write; modify then returns the resource as read.
func (x *exec) modify(method, path string, change func(cur object) (any, error)) (object, error) {
	for attempt := 0; ; attempt++ {
		cur, etag, err := x.c.get(path)
		if err != nil {
			return nil, err
		}
		body, err := change(cur)
		if err != nil || body == nil {
			return cur, err
		}
		out, err := x.c.write(method, path, etag, body)
		if isStatus(err, http.StatusPreconditionFailed) && etag != "" && attempt < 3 {
			continue
		}
		return out, err
	}
}
