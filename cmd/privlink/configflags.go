package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
)

// configFlags are the flags of commands that load a configuration. Every
// overridable key (config.OverridableKeys) can also be set from the
// environment as PRIVLINK_<KEY>.
type configFlags struct {
	path string
	// bind maps config keys to the flag names that override them.
	bind map[string]string
}

func (cf *configFlags) register(cmd *cobra.Command, overrides bool) {
	cmd.Flags().StringVarP(&cf.path, "config", "c", os.Getenv("PRIVLINK_CONFIG"), "configuration file (default: the embedded default topology; env PRIVLINK_CONFIG)")
	cf.bind = map[string]string{}
	if !overrides {
		return
	}
	cmd.Flags().String("admin", "", "admin API listen address, or \"off\" (overrides admin.listen; env PRIVLINK_ADMIN_LISTEN)")
	cmd.Flags().String("deny-action", "", "drop or reset (overrides deny_action; env PRIVLINK_DENY_ACTION)")
	cmd.Flags().String("flow-logs", "", "flow log destination: - for stdout or a file (overrides flow_logs.path; env PRIVLINK_FLOW_LOGS_PATH)")
	cmd.Flags().String("dns", "", "DNS server listen address, or \"off\" (overrides dns.listen; env PRIVLINK_DNS_LISTEN)")
	cf.bind = map[string]string{"admin.listen": "admin", "deny_action": "deny-action", "flow_logs.path": "flow-logs", "dns.listen": "dns"}
}

// embeddedKey, in a command's context, holds a func([]byte) []byte that
// rewrites the embedded default topology before it is loaded: tests move
// its addresses so that they pass beside a running `privlink run`.
type embeddedKey struct{}

// load reads the configuration with environment and flag overrides.
func (cf *configFlags) load(cmd *cobra.Command) (*config.Config, error) {
	v := config.NewViper(cmd.Flags(), cf.bind)
	overrides := config.OverridesFromViper(v, cmd.Flags(), cf.bind)
	var cfg *config.Config
	var err error
	if rewrite, ok := cmd.Context().Value(embeddedKey{}).(func([]byte) []byte); ok && cf.path == "" {
		cfg, err = config.LoadData(config.EmbeddedName, rewrite(config.DefaultYAML()), overrides...)
	} else {
		cfg, err = config.Load(cf.path, overrides...)
	}
	if err != nil {
		return nil, configError(err)
	}
	cfg.Warnings = append(cfg.Warnings, acl.Lint(cfg)...)
	return cfg, nil
}

// configError turns a configuration error into exit code 1 with every
// problem on its own FILE:LINE: key: message line.
func configError(err error) error {
	var errs config.Errors
	if errors.As(err, &errs) {
		return &exitError{code: 1, err: errs}
	}
	return &exitError{code: 1, err: err}
}

// printWarnings writes configuration warnings, one per line.
func printWarnings(w io.Writer, cfg *config.Config) {
	for _, warn := range cfg.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn.Error())
	}
}
