// Package visualizer is the web app that replays a simulator trace (package
// sim, "Trace (format 1)"): members on a ring coloured by term with their
// election timers, messages sliding along the links, partitions, the logs
// with commit, compaction and the leader's match and next per follower, the
// key space, the clients' operations, an event log, and a timeline to play,
// step, scrub and jump through it.
//
// # The app
//
// The files in static/ are served as they are: ES modules and SVG, no build
// step, embedded with go:embed. They keep to one shape:
//
//   - trace.js: parseTrace reads the JSON Lines; buildTimeline turns the
//     events into the list of cluster states (tl.at(i) is the state after
//     event i) and the tables that are not states (messages in flight at a
//     time, client operations, the key space per applied index, where each
//     kind of event is). It is pure: states are never changed once made.
//   - render.js: pure functions from one state (and the time within it,
//     for what moves) to markup.
//   - app.js: the page. It holds what the viewer chose (the moment, play
//     or pause, speed, selection) in one closure and redraws.
//
// The page loads the trace named by ?trace=URL, else the run that
// /api/run describes, else one the viewer opens with the file picker.
// The fragment #i=N (or #t=MS) picks the moment; stepping writes it back,
// so a moment can be shared.
//
// The JavaScript is tested by node's test runner (jstest/, run from
// TestJavaScript) and in headless Chromium (TestBrowser, driven by
// chromedp): under CI=true a missing browser fails the test. TestBrowser
// reports how long the large trace takes to load and how long a frame
// takes while it plays; with RAFTKV_SCREENSHOTS=dir it keeps its
// screenshots there (docs/visualizer.png is its visualizer.png:
// RAFTKV_SCREENSHOTS=$PWD/docs go test -run TestBrowser/large ./visualizer/).
//
// # Serving
//
// Handler serves the app and one Run: its trace at /trace.jsonl, and
// Porcupine's HTML for the same run at /porcupine.html when there is one.
// Serve listens on loopback only. raftkv-sim -visualize and -serve use them.
package visualizer
