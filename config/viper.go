package config

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// OverridableKeys are the scalar keys that environment variables
// (PRIVLINK_ + upper-case key with "_" for ".") and flags may set.
var OverridableKeys = []string{
	"region", "account_id", "admin.listen", "admin.pprof", "deny_action",
	"flow_logs.path", "flow_logs.interval", "flow_logs.format",
	"dns.listen", "dns.upstream",
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return "PRIVLINK_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// NewViper returns a viper reading PRIVLINK_* environment variables, with
// the given flags bound to configuration keys (key → flag name).
func NewViper(flags *pflag.FlagSet, bind map[string]string) *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix("PRIVLINK")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for key, flag := range bind {
		if f := flags.Lookup(flag); f != nil {
			_ = v.BindPFlag(key, f)
		}
	}
	return v
}

// OverridesFromViper returns an Override for every overridable key set by a
// changed flag or an environment variable; flags win over the environment.
func OverridesFromViper(v *viper.Viper, flags *pflag.FlagSet, bind map[string]string) []Override {
	var out []Override
	for _, key := range OverridableKeys {
		if name, ok := bind[key]; ok {
			if f := flags.Lookup(name); f != nil && f.Changed {
				out = append(out, Override{Key: key, Value: f.Value.String(), Source: "flag --" + name})
				continue
			}
		}
		if _, ok := os.LookupEnv(EnvName(key)); ok {
			out = append(out, Override{Key: key, Value: v.GetString(key), Source: "env " + EnvName(key)})
		}
	}
	return out
}
