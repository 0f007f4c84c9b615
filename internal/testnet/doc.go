// Package testnet gives the tests of several packages one thing they all
// need from the network: a connected pair of loopback TCP sockets
// (TCPPair). It is for tests only.
package testnet
