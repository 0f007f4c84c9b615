// Package config is privlink's configuration: the topology schema as typed
// structs, strict YAML decoding that remembers the line of every key, defaults
// equal to AWS's documented defaults, validation whose errors read
// "FILE:LINE: path.to.key: message", environment/flag overrides through viper,
// and the embedded default topology.
//
// It knows nothing of sockets: the proxy package compiles a *Config into the
// running topology.
package config
