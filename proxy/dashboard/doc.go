// Package dashboard holds privlink's web page (docs/dashboard.md): one HTML page
// with its scripts and style sheet, embedded in the binary and served at
// the admin address. The page uses nothing from the network and no
// framework: plain JavaScript draws the topology (GET
// /v1/dashboard/topology), shows the live frames (GET /v1/dashboard/live,
// Server-Sent Events) and acts through the admin API's JSON endpoints.
// proxy.Server serves it and feeds it; this package only serves the files.
package dashboard
