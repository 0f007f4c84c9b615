// Package config is privlink's configuration: the topology schema as typed
// structs, strict YAML decoding that remembers the line of every key, defaults
// equal to AWS's documented defaults, validation whose errors read
// "FILE:LINE: path.to.key: message", environment/flag overrides through viper,
// and the embedded default topology.
//
// Tools read a configuration with Load (a file), LoadData or Parse (YAML
// held in memory), or build one in Go from New, NewService,
// NewTargetGroup and NewListener (the defaults of omitted keys) and check
// it with Validate; every error is an Errors of FILE:LINE: key: message.
//
// It knows nothing of sockets: the proxy package compiles a *Config into the
// running topology.
package config
