package proxy_test

import (
	"fmt"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// Inject failures from a Go test: an AZ outage for 30 seconds, then a
// fault whose scope names an AZ the topology does not have.
func ExampleServer_AddFault() {
	cfg, err := config.Parse("faults.yaml", []byte(`
admin: {listen: "off"}
dns: {listen: "off"}
subnets:
  - {id: subnet-consumer, az: use1-az1, cidr: 127.98.1.0/24}
  - {id: subnet-provider, az: use1-az1, cidr: 127.98.10.0/24}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    load_balancer:
      nodes: [{subnet: subnet-provider, ip: 127.98.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - {name: tg, port: 9443, targets: [{ip: 127.98.10.20, subnet: subnet-provider, builtin: echo}]}
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    interfaces: [{subnet: subnet-consumer, ip: 127.98.1.10}]
`))
	if err != nil {
		panic(err)
	}
	srv, err := proxy.Start(cfg, proxy.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	f := config.NewFault(config.FaultAZOutage)
	f.Scope.AZ, f.Duration = "use1-az1", config.Duration(30*time.Second)
	fi, err := srv.AddFault(f)
	fmt.Println(fi.ID, fi.State, err)

	f.Scope.AZ = "use1-az9"
	_, err = srv.AddFault(f)
	fmt.Println(err)
	// Output:
	// az_outage-1 active <nil>
	// proxy: invalid fault: scope.az: no subnet or node is in AZ "use1-az9"
}
