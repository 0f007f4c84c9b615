package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// globalFlags are the flags every command takes.
type globalFlags struct {
	logFormat string
	logLevel  string
}

func (g *globalFlags) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.logFormat, "log-format", envOr("PRIVLINK_LOG_FORMAT", "json"), "log format: json or console (env PRIVLINK_LOG_FORMAT)")
	pf.StringVar(&g.logLevel, "log-level", envOr("PRIVLINK_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env PRIVLINK_LOG_LEVEL)")
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// newLogger builds the process logger: JSON to stderr by default, or a
// human-readable console encoding.
func newLogger(cmd *cobra.Command) (*zap.Logger, error) {
	format, _ := cmd.Flags().GetString("log-format")
	levelName, _ := cmd.Flags().GetString("log-level")
	level, err := zapcore.ParseLevel(levelName)
	if err != nil {
		return nil, usageErr("--log-level: %q is not one of debug, info, warn, error", levelName)
	}
	var cfg zap.Config
	switch strings.ToLower(format) {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		cfg.DisableStacktrace = true
	default:
		return nil, usageErr("--log-format: %q is not json or console", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.Sampling = nil
	cfg.DisableCaller = true
	cfg.OutputPaths = []string{"stderr"}
	l, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return l, nil
}
