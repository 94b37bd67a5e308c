// Package dashboard is the web page every member serves at /dashboard/
// (embedded static files, ES modules, no build step) and the Go side of its
// live feed: a Feed that computes one snapshot a second for every open page
// at once.
//
// The contract of Feed: the snapshot function runs on one goroutine per
// Feed, started when the first subscriber arrives and stopped when the last
// one leaves, so the cost of the dashboard does not grow with the number of
// pages open: each snapshot is encoded once and the same bytes are written
// to every subscriber. A subscriber that is slow to read misses updates
// (it always gets the newest), it never holds the loop up.
//
// The package imports no other raftkv package: the server hands it a
// function that builds the snapshot.
package dashboard
