package config

import "time"

// Defaults equal AWS's documented defaults unless marked as privlink's choice.
const (
	DefaultRegion      = "us-east-1"
	DefaultAccountID   = "111122223333"
	DefaultAdminListen = "127.0.0.1:9480"

	DefaultIdleTimeout         = 350 * time.Second
	DefaultPortBudget          = 55000
	DefaultPortReuseDelay      = 60 * time.Second
	DefaultDeregistrationDelay = 300 * time.Second
	DefaultFlowLogInterval     = 600 * time.Second
	DefaultFlowLogQueue        = 8192 // privlink's choice: 200 B each; drained every 20 ms

	DefaultHealthInterval           = 30 * time.Second
	DefaultHealthTimeout            = 10 * time.Second
	DefaultHealthyThreshold         = 5
	DefaultUnhealthyThreshold       = 2
	DefaultAllowedPrincipal         = "*" // privlink's choice: AWS starts with none
	DefaultProxyProtocolV2Placement = PlacementFirstData
)

func (c *Config) setDefaults() {
	c.Region = DefaultRegion
	c.AccountID = DefaultAccountID
	c.Admin.Listen = DefaultAdminListen
	c.DenyAction = DenyDrop
	c.S3.InterfacePort = DefaultS3InterfacePort
	c.FlowLogs = FlowLogs{Interval: Duration(DefaultFlowLogInterval), QueueSize: DefaultFlowLogQueue}
	c.setDNSDefaults()
}

func (s *Service) setDefaults() {
	s.AllowedPrincipals = []string{DefaultAllowedPrincipal}
	s.LoadBalancer.EnforceInboundRulesOnPrivateLink = true
}

func (l *Listener) setDefaults() { l.IdleTimeout = Duration(DefaultIdleTimeout) }

func (tg *TargetGroup) setDefaults() {
	tg.ProxyProtocolV2Placement = DefaultProxyProtocolV2Placement
	tg.PortBudget = DefaultPortBudget
	tg.PortReuseDelay = Duration(DefaultPortReuseDelay)
	tg.DeregistrationDelay = Duration(DefaultDeregistrationDelay)
	tg.UnhealthyConnectionTermination = true
	tg.HealthCheck = HealthCheck{
		Enabled:            true,
		Interval:           Duration(DefaultHealthInterval),
		Timeout:            Duration(DefaultHealthTimeout),
		HealthyThreshold:   DefaultHealthyThreshold,
		UnhealthyThreshold: DefaultUnhealthyThreshold,
	}
}
