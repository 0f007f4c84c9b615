// Command idleconns opens N connections to an echo service, proves each
// one works end to end (one byte there and back, so a proxy has dialled
// the target and sent any PROXY header), prints "ready N" and then holds
// them idle until SIGTERM/SIGINT or --hold passes. The bench
// script reads a proxy's RSS before and after to get the memory cost of
// an idle connection.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	target := flag.String("target", "", "echo service host:port")
	n := flag.Int("n", 3000, "connections to open")
	parallel := flag.Int("parallel", 32, "connections opened at once")
	hold := flag.Duration("hold", 2*time.Minute, "how long to hold them at most")
	source := flag.String("source", "", "local IP address to connect from (default: the kernel's choice)")
	flag.Parse()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if *source != "" {
		ip := net.ParseIP(*source)
		if ip == nil {
			fmt.Fprintf(os.Stderr, "idleconns: --source %q is not an IP address\n", *source)
			os.Exit(2)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	if *target == "" || *n < 1 || *parallel < 1 {
		fmt.Fprintln(os.Stderr, "idleconns: --target is required; --n and --parallel must be positive")
		os.Exit(2)
	}
	conns, err := open(d, *target, *n, *parallel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "idleconns: %v (%d of %d open)\n", err, len(conns), *n)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", len(conns))
	wait(*hold)
	for _, c := range conns {
		c.Close()
	}
}

// open dials n connections, parallel at a time, and checks each echoes.
func open(d *net.Dialer, target string, n, parallel int) ([]net.Conn, error) {
	var (
		mu    sync.Mutex
		conns []net.Conn
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, parallel)
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := openOne(d, target)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				first = cmp.Or(first, err)
				return
			}
			conns = append(conns, c)
		})
	}
	wg.Wait()
	return conns, first
}

func openOne(d *net.Dialer, target string) (net.Conn, error) {
	c, err := d.Dial("tcp", target)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := []byte{'i'}
	if _, err := c.Write(b); err == nil {
		_, err = io.ReadFull(c, b)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("echo through %s: %w", target, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// wait returns on SIGINT/SIGTERM or after hold.
func wait(hold time.Duration) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case <-time.After(hold):
	}
}
