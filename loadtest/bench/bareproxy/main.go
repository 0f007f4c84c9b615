// Command bareproxy is the bench's reference for what Go itself costs: a
// TCP proxy with nothing but accept, dial and two io.Copy goroutines per
// connection (Go splices TCP to TCP). No PROXY header, no rules, no
// connection table, no port pool, no metrics, no flow logs.
//
//	bareproxy LISTEN=TARGET [LISTEN=TARGET ...]
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bareproxy LISTEN=TARGET [LISTEN=TARGET ...]")
		os.Exit(2)
	}
	errs := make(chan error)
	for _, arg := range os.Args[1:] {
		listen, target, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "bareproxy: %q: want LISTEN=TARGET\n", arg)
			os.Exit(2)
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bareproxy:", err)
			os.Exit(1)
		}
		go func() { errs <- serve(ln, target) }()
	}
	fmt.Fprintln(os.Stderr, "bareproxy:", <-errs)
	os.Exit(1)
}

func serve(ln net.Listener, target string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go proxy(c.(*net.TCPConn), target)
	}
}

func proxy(c *net.TCPConn, target string) {
	defer c.Close()
	conn, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	t := conn.(*net.TCPConn)
	defer t.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(t, c)
		t.CloseWrite()
		close(done)
	}()
	io.Copy(c, t)
	c.CloseWrite()
	<-done
}
