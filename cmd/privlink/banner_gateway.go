package main

import (
	"fmt"
	"io"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// printS3Banner tells where the S3 endpoint of gateway endpoints listens
// and which subnets reach it; it returns an example command ("" when none).
func printS3Banner(w io.Writer, cfg *config.Config, srv *proxy.Server) string {
	addr := srv.S3Addr()
	if !addr.IsValid() {
		return ""
	}
	backend := cfg.S3.Backend
	if cfg.S3.Embedded() {
		backend = "embedded in-memory S3"
	}
	fmt.Fprintf(w, "  S3 endpoint http://%s (prefix list %s, backend %s)\n", addr, config.S3PrefixList(cfg.Region), backend)
	for _, sn := range cfg.Subnets {
		rt := cfg.RouteTableOf(sn.ID)
		if rt == nil {
			continue
		}
		if r := rt.Route(config.S3PrefixList(cfg.Region)); r != nil {
			fmt.Fprintf(w, "    clients in %s (%s) reach it through %s (%s)\n", sn.ID, sn.CIDR, r.GatewayEndpoint, rt.ID)
		}
	}
	return fmt.Sprintf("aws --endpoint-url http://%s s3 ls", addr)
}
