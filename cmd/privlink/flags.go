package main

import (
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

// newLogger builds the process logger, writing to the command's stderr:
// JSON by default, or a human-readable console encoding (coloured only on
// a terminal). No stack traces: every message says what went wrong.
func newLogger(cmd *cobra.Command) (*zap.Logger, error) {
	format, _ := cmd.Flags().GetString("log-format")
	levelName, _ := cmd.Flags().GetString("log-level")
	level, err := zapcore.ParseLevel(levelName)
	if err != nil {
		return nil, usageErr("--log-level: %q is not one of debug, info, warn, error", levelName)
	}
	w := cmd.ErrOrStderr()
	var enc zapcore.Encoder
	switch strings.ToLower(format) {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "time"
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, usageErr("--log-format: %q is not json or console", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zap.NewAtomicLevelAt(level))
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(w)))), nil
}
