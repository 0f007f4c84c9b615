package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	cf := &configFlags{}
	cmd := &cobra.Command{
		Use:   "validate [-c FILE]",
		Short: "Check a configuration file and report every problem with its line",
		Long: "Load and validate a configuration. Exit 0 when it is valid (warnings are printed),\n" +
			"or 1 with every error as FILE:LINE: path.to.key: message.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.load(cmd)
			if err != nil {
				return err
			}
			printWarnings(cmd.ErrOrStderr(), cfg)
			targets := 0
			for _, s := range cfg.Services {
				for _, tg := range s.TargetGroups {
					targets += len(tg.Targets)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%d services, %d endpoints, %d targets, %d warnings)\n",
				cfg.Source, len(cfg.Services), len(cfg.Endpoints), targets, len(cfg.Warnings))
			return nil
		},
	}
	cf.register(cmd, true)
	return cmd
}
