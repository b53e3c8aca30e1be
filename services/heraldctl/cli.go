package heraldctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// Exit codes of Run.
const (
	ExitOK         = 0 // success
	ExitError      = 1 // an API error, a failed request or another runtime error
	ExitUsage      = 2 // a bad command line
	ExitNotMatched = 3 // `filter test`: the rule does not match the event
)

// Defaults of the global flags.
const (
	DefaultServer  = "http://127.0.0.1:8080"
	requestTimeout = 30 * time.Second
)

// Run runs heraldctl with args (without the program name), writing results to stdout and
// messages to stderr, and returns the exit code. It reads HERALD_SERVER and HERALD_TOKEN from
// the environment; flags override them. ctx ends long-running commands (deliveries tail, demo).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{
		stdout: stdout,
		stderr: stderr,
		server: envOr("HERALD_SERVER", DefaultServer),
		token:  os.Getenv("HERALD_TOKEN"),
		output: "text",
		hc:     &http.Client{Timeout: requestTimeout},
	}
	return c.run(ctx, args)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// cli holds the global settings of one Run.
type cli struct {
	stdout, stderr io.Writer
	server, token  string
	output         string // "text" or "json"
	hc             *http.Client
}

// command is one subcommand ("apps create"). setup registers its flags on a fresh FlagSet;
// run does the work with the positional arguments.
type command struct {
	name    string // "apps create"
	args    string // positional arguments and flags as shown in the usage line
	summary string // one line for the command list
	help    string // paragraphs printed by -h after the usage line
	minArgs int
	maxArgs int // < 0: no limit
	setup   func(fs *flag.FlagSet)
	run     func(ctx context.Context, c *cli, args []string) error
}

// commands returns a fresh set of commands (their flag variables live in closures, so each
// Run gets its own).
func commands() []*command {
	return []*command{
		appsCreateCmd(), appsListCmd(), appsGrantCmd(true), appsGrantCmd(false), appsRotateKeyCmd(), appsDeleteCmd(),
		applyCmd(),
		eventsListCmd(),
		subscribeCmd(),
		subscriptionsListCmd(), subscriptionsGetCmd(), subscriptionsStatusCmd("pause"), subscriptionsStatusCmd("resume"),
		subscriptionsVerifyCmd(), subscriptionsRotateCmd(), subscriptionsDeleteCmd(),
		deliveriesListCmd(), deliveriesGetCmd(), deliveriesRedeliverCmd(), deliveriesTailCmd(),
		filterTestCmd(),
		demoCmd(),
	}
}

// usageError is a bad command line: Run prints it with a pointer to -h and exits with 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitCode ends Run with a code and no further message (the command printed what it had to).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

func (c *cli) run(ctx context.Context, args []string) int {
	cmds := commands()
	fs := c.flagSet("heraldctl")
	rest, err := parseFlags(fs, args, false)
	if errors.Is(err, flag.ErrHelp) || (err == nil && len(rest) > 0 && rest[0] == "help" && len(rest) == 1) {
		c.printUsage(c.stdout, cmds)
		return ExitOK
	}
	if err != nil {
		return c.fail("heraldctl", &usageError{err.Error()})
	}
	if len(rest) == 0 {
		c.printUsage(c.stderr, cmds)
		return ExitUsage
	}
	if rest[0] == "help" {
		rest = append(rest[1:], "-h")
	}
	cmd, cmdArgs := lookup(cmds, rest)
	if cmd == nil {
		group := groupOf(cmds, rest[0])
		if len(group) == 0 {
			return c.fail("heraldctl", usagef("unknown command %q", rest[0]))
		}
		// "heraldctl apps" or "heraldctl apps -h" or "heraldctl apps bogus".
		w, code := c.stderr, ExitUsage
		if len(rest) > 1 && (rest[1] == "-h" || rest[1] == "--help" || rest[1] == "-help") {
			w, code = c.stdout, ExitOK
		} else if len(rest) > 1 {
			fmt.Fprintf(c.stderr, "heraldctl %s: unknown command %q\n\n", rest[0], rest[1])
		}
		fmt.Fprintf(w, "Commands of heraldctl %s:\n\n", rest[0])
		printCommands(w, group)
		fmt.Fprintf(w, "\nRun 'heraldctl %s <command> -h' for a command's flags.\n", rest[0])
		return code
	}
	return c.runCommand(ctx, cmd, cmdArgs)
}

func (c *cli) runCommand(ctx context.Context, cmd *command, args []string) int {
	fs := c.flagSet("heraldctl " + cmd.name)
	if cmd.setup != nil {
		cmd.setup(fs)
	}
	pos, err := parseFlags(fs, args, true)
	if errors.Is(err, flag.ErrHelp) {
		c.printCommandHelp(c.stdout, cmd, fs)
		return ExitOK
	}
	if err != nil {
		return c.fail(cmd.name, &usageError{err.Error()})
	}
	switch {
	case len(pos) < cmd.minArgs:
		return c.fail(cmd.name, usagef("needs %s", cmd.args))
	case cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs:
		return c.fail(cmd.name, usagef("unexpected argument %q", pos[cmd.maxArgs]))
	}
	if c.output != "text" && c.output != "json" {
		return c.fail(cmd.name, usagef("--output must be text or json, got %q", c.output))
	}
	c.server = strings.TrimSuffix(c.server, "/")
	return c.fail(cmd.name, cmd.run(ctx, c, pos))
}

// fail prints err (if any) and returns its exit code.
func (c *cli) fail(name string, err error) int {
	var (
		ue   *usageError
		ae   *APIError
		code exitCode
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &ue):
		if name == "heraldctl" {
			fmt.Fprintf(c.stderr, "heraldctl: %s\nRun 'heraldctl -h' for usage.\n", ue.msg)
		} else {
			fmt.Fprintf(c.stderr, "heraldctl %s: %s\n", name, ue.msg)
			fmt.Fprintf(c.stderr, "Run 'heraldctl %s -h' for usage.\n", name)
		}
		return ExitUsage
	case errors.As(err, &ae):
		fmt.Fprintf(c.stderr, "heraldctl %s: %s\n", name, ae.Error())
		if h := ae.hint(); h != "" {
			fmt.Fprintf(c.stderr, "hint: %s\n", h)
		}
		return ExitError
	}
	fmt.Fprintf(c.stderr, "heraldctl %s: %v\n", name, err)
	var ce *connError
	if errors.As(err, &ce) {
		fmt.Fprintf(c.stderr, "hint: is Herald running at %s? Start it with 'make run', or point --server / HERALD_SERVER at it.\n", c.server)
	}
	return ExitError
}

// flagSet returns a FlagSet with the global flags, which every command accepts too.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Run prints errors and help itself
	fs.Usage = func() {}
	fs.Var(stringRef{&c.server}, "server", "Herald's HTTP API base `URL` (HERALD_SERVER; default "+DefaultServer+")")
	fs.Var(stringRef{&c.token}, "token", "the admin token or an app's API `key` (HERALD_TOKEN)")
	fs.Var(stringRef{&c.output}, "output", "`format`: text or json (json prints the API's data object)")
	return fs
}

// stringRef is a string flag whose default is not printed by -h (it may come from the
// environment, and a token must not be shown).
type stringRef struct{ p *string }

func (s stringRef) String() string     { return "" }
func (s stringRef) Set(v string) error { *s.p = v; return nil }

// parseFlags parses args with fs. With interspersed, flags may follow positional arguments
// ("rotate-secret ID --overlap 1h") and all positional arguments are returned; without it,
// parsing stops at the first positional argument (the command name) and the rest is returned.
// "--" ends the flags.
func parseFlags(fs *flag.FlagSet, args []string, interspersed bool) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 || !interspersed {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func lookup(cmds []*command, args []string) (*command, []string) {
	if len(args) >= 2 {
		name := args[0] + " " + args[1]
		for _, c := range cmds {
			if c.name == name {
				return c, args[2:]
			}
		}
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c, args[1:]
		}
	}
	return nil, nil
}

func groupOf(cmds []*command, group string) []*command {
	var out []*command
	for _, c := range cmds {
		if g, _, ok := strings.Cut(c.name, " "); ok && g == group {
			out = append(out, c)
		}
	}
	return out
}

func printCommands(w io.Writer, cmds []*command) {
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.name))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
}

func (c *cli) printUsage(w io.Writer, cmds []*command) {
	fmt.Fprint(w, `heraldctl is Herald's command-line client. It talks to the registry's JSON API.

Usage: heraldctl [--server URL] [--token KEY] [--output text|json] <command> [flags] [args]

Commands:
`)
	printCommands(w, cmds)
	fmt.Fprintf(w, `
Global flags (also accepted after the command):
  --server URL     Herald's HTTP API (HERALD_SERVER; default %s)
  --token KEY      the admin token (apps, demo) or an app's API key (HERALD_TOKEN)
  --output FORMAT  text (default) or json: the API's data object, stable for scripts

Exit codes: 0 ok, 1 API or other error, 2 usage error, 3 filter test: not matched.
Run 'heraldctl <command> -h' for a command's flags.
`, DefaultServer)
}

func (c *cli) printCommandHelp(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: heraldctl %s %s\n\n%s\n", cmd.name, cmd.args, cmd.summary)
	if cmd.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.help))
	}
	fmt.Fprintln(w, "\nFlags:")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	global := []string{"output", "server", "token"}
	names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(global, n) })
	names = append(names, global...)
	for _, n := range names {
		f := fs.Lookup(n)
		typ, usage := flag.UnquoteUsage(f)
		arg := "--" + f.Name
		if typ != "" {
			arg += " " + typ
		}
		fmt.Fprintf(w, "  %-22s %s", arg, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	}
}

// stringList is a repeatable flag; each value may also hold several comma-separated items.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// repeatable is a repeatable flag whose values are kept whole (permissions may hold commas).
type repeatable []string

func (s *repeatable) String() string     { return strings.Join(*s, ", ") }
func (s *repeatable) Set(v string) error { *s = append(*s, v); return nil }
