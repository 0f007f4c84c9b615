package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/inspect"
)

// endpoints adds to addrs the endpoint interface addresses of the topology
// named by --config, if any.
func (f *inspectFlags) endpoints(addrs []netip.Prefix) ([]netip.Prefix, error) {
	if f.config == "" {
		return addrs, nil
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, configError(fmt.Errorf("--config: %w", err))
	}
	for _, e := range cfg.Endpoints {
		for _, ifc := range e.Interfaces {
			addrs = append(addrs, netip.PrefixFrom(ifc.IP.Unmap(), ifc.IP.Unmap().BitLen()))
		}
	}
	if len(addrs) == 0 {
		return nil, &exitError{code: 1, err: fmt.Errorf("--config %s: no endpoint interface addresses", f.config)}
	}
	return addrs, nil
}

// reportCheck prints the --check tally to w and returns exit status 1
// unless at least one header was seen and every one conformed.
func reportCheck(w io.Writer, c inspect.Conformance) error {
	if c.OK() {
		fmt.Fprintf(w, "privlink inspect --check: ok: %d PROXY headers, every one as an NLB sends it\n", c.Headers)
		return nil
	}
	if c.Headers == 0 {
		fmt.Fprintln(w, "privlink inspect --check: FAIL: no PROXY header was seen")
		return &exitError{code: 1, err: fmt.Errorf("--check: no PROXY header was seen")}
	}
	fmt.Fprintf(w, "privlink inspect --check: FAIL: %d of %d PROXY headers differ from what an NLB sends\n", c.Nonconforming, c.Headers)
	var names []string
	for _, it := range inspect.Items() {
		if n := c.Items[it]; n > 0 {
			fmt.Fprintf(w, "  %-20s %5d  %s\n", it, n, strings.TrimPrefix(it.Note(), it.String()+": "))
			names = append(names, it.String())
		}
	}
	for _, r := range inspect.Reasons() {
		if n := c.Refused[r]; n > 0 {
			fmt.Fprintf(w, "  %-20s %5d  refused: see the log's \"connection closed\" lines\n", "refused "+r.String(), n)
			names = append(names, "refused "+r.String())
		}
	}
	return &exitError{code: 1, err: fmt.Errorf("--check: %d of %d PROXY headers do not conform: %s", c.Nonconforming, c.Headers, strings.Join(names, ", "))}
}
