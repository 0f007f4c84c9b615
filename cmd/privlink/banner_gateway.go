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
	printRoutes(w, cfg, config.S3PrefixList(cfg.Region))
	return fmt.Sprintf("aws --endpoint-url http://%s s3 ls", addr)
}

// printDynamoDBBanner tells where the DynamoDB endpoint of gateway
// endpoints listens; it returns an example command ("" when none).
func printDynamoDBBanner(w io.Writer, cfg *config.Config, srv *proxy.Server) string {
	addr := srv.DynamoDBAddr()
	if !addr.IsValid() {
		return ""
	}
	fmt.Fprintf(w, "  DynamoDB endpoint http://%s (prefix list %s, backend %s)\n", addr, config.DynamoDBPrefixList(cfg.Region), cfg.DynamoDB.Backend)
	printRoutes(w, cfg, config.DynamoDBPrefixList(cfg.Region))
	return fmt.Sprintf("aws --endpoint-url http://%s dynamodb list-tables", addr)
}

// printRoutes lists the subnets whose route table routes a prefix list.
func printRoutes(w io.Writer, cfg *config.Config, pl string) {
	for _, sn := range cfg.Subnets {
		rt := cfg.RouteTableOf(sn.ID)
		if rt == nil {
			continue
		}
		if r := rt.Route(pl); r != nil {
			fmt.Fprintf(w, "    clients in %s (%s) reach it through %s (%s)\n", sn.ID, sn.CIDR, r.GatewayEndpoint, rt.ID)
		}
	}
}
