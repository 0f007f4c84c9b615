// Command privlink is a local stand-in for the AWS PrivateLink data path:
// client → interface VPC endpoint → Network Load Balancer node → target.
//
// It only wires flags, configuration and packages together; the logic lives
// in the config, acl, conntrack, proxy and loadtest packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/config"
)

// exitError carries a process exit code: 1 for runtime and validation
// failures, 2 for usage errors.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// quiet is an exit code whose message was already printed.
func quiet(code int) error { return &exitError{code: code} }

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code;
// cancelling ctx stops a long-running command as a signal would.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			printError(stderr, ee.err)
		}
		return ee.code
	}
	// cobra's own errors (unknown flag or command, bad flag value) are usage errors.
	fmt.Fprintln(stderr, "privlink: "+err.Error())
	fmt.Fprintln(stderr, "Run 'privlink --help' for usage.")
	return 2
}

// printError writes one error line, or for configuration errors one
// FILE:LINE: key: message line per problem.
func printError(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, "privlink: "+err.Error())
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "privlink",
		Short:         "A local stand-in for the AWS PrivateLink data path",
		Long:          "privlink emulates client → interface VPC endpoint → NLB node → target on one machine:\nsecurity groups, network ACLs, SNAT or PROXY protocol v2, the port budget, conntrack and flow logs.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.register(root)
	root.AddCommand(
		newRunCmd(),
		newValidateCmd(),
		newEchoCmd(),
		newVersionCmd(),
		newInspectCmd(),
		newExplainCmd(),
		newConnsCmd(),
		newLoadtestCmd(),
		newHostsCmd(),
		newHealthCmd(),
		newFaultCmd(),
	)
	return root
}
