// Package notify delivers endpoint connection events (Connect, Accept,
// Reject, Delete) to webhooks, as AWS does through SNS for an endpoint
// service's connection notifications. Delivery never blocks the caller and
// one webhook never delays another: each webhook URL has its own bounded
// queue and its own goroutine that retries with back-off. Events are
// dropped (counted, and logged once per incident) when that webhook's
// queue is full, and counted as failed when every attempt failed.
package notify
