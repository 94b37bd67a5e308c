// Package visualizer is the web app that replays a simulator trace (package
// sim, "Trace (format 1)"), or runs the simulator live in the page: members
// on a ring coloured by term with their election timers, messages sliding
// along the links, partitions, the logs with commit, compaction and the
// leader's match and next per follower, the key space, the clients'
// operations, an event log, and a timeline to play, step, scrub and jump
// through it. Only the current members are drawn: one not yet joined, or
// removed and stopped (a leave), is left out.
//
// # The app
//
// The files in static/ are served as they are: ES modules and SVG, no build
// step, embedded with go:embed. They keep to one shape:
//
//   - trace.js: parseTrace reads the JSON Lines (a last line cut off is
//     left out with a warning); buildTimeline turns the events into the
//     list of cluster states (tl.at(i) is the state after event i) and the
//     tables that are not states (messages in flight at a time, client
//     operations, the key space per applied index, where each kind of
//     event is). createTimeline is the same timeline growing as the live
//     simulator sends events (tl.append); buildTimeline is createTimeline
//     fed the whole trace at once, and the tests hold the two equal. It is
//     pure: states are never changed once made.
//   - render.js: pure functions from one state (and the time within it,
//     for what moves) to markup.
//   - live.js: the page's side of the live simulator: the worker
//     (live/worker.js, below), what a click on a member, a link or a
//     message offers, the client panel's inputs, and the rules of the
//     guided scenarios, which live/scenarios.js holds as data.
//   - app.js: the page. It holds what the viewer chose (the moment, play
//     or pause, speed, selection, the simple or full view, kept in
//     localStorage) in one closure and redraws.
//
// The page loads the trace named by ?trace=URL, else the run that
// /api/run describes, else one the viewer opens with the file picker;
// ?live (with &seed=N, &members=N, or &scenario=ID; the page writes them
// back on a reset) starts the live simulator instead.
// The fragment #i=N (or #t=MS) picks the moment (a bad one is named in
// the status line and the page shows the start); stepping writes it back,
// so a moment can be shared.
//
// In a live session the page advances the simulator's virtual clock from
// wall time times the speed (1/100 to 100 times real time), keeping the
// engine a frame or so ahead of the clock on screen, so that a message
// drawn on the wire is known to arrive; it asks for one advance at a time,
// to multiples of 5 ms, so that a scenario's step waiting for a condition
// fires at the same virtual time on every machine. A click sends an input;
// scrubbing back shows the past (every event is kept), and an input there,
// or "fork from here", starts the session again with the inputs up to that
// moment. A scenario is a list of steps: inputs at a time, after a delay
// or when a condition on the cluster holds, each with a caption; its
// expect says what it must reach: TestScenariosInNode plays every one on
// the real engine in node (live.js's fireDue and scenarioLimit, as the page
// steps them), and TestBrowserScenarios in Chromium, clicking "continue".
//
// The JavaScript is tested by node's test runner (jstest/, run from
// TestJavaScript) and in headless Chromium (TestBrowser, driven by
// chromedp): under CI=true a missing browser fails the test. TestBrowser
// reports how long the large trace takes to load and how long a frame
// takes while it plays, and TestBrowserLive the frame time of 5 live
// members; with RAFTKV_SCREENSHOTS=dir they keep their screenshots there
// (docs/visualizer.png is TestBrowser's visualizer.png, docs/live.png
// TestBrowserLive's live.png, docs/live-scenario.png TestBrowserScenarios'
// live-scenario.png: RAFTKV_SCREENSHOTS=$PWD/docs go test -run
// 'TestBrowser/large|TestBrowserLive|TestBrowserScenarios/figure8'
// ./visualizer/).
//
// # Serving
//
// Handler serves the app and one Run: its trace at /trace.jsonl, and
// Porcupine's HTML for the same run at /porcupine.html when there is one.
// Serve listens on loopback only. raftkv-sim -visualize and -serve use them.
//
// # The live simulator
//
// The engine is package sim's live session (sim.Live): the simulator
// itself, node core, raft, kv, the in-memory disks and the simulated
// network, compiled to WebAssembly (GOOS=js GOARCH=wasm) from package
// visualizer/wasm as live/raftkv.wasm, and run in a classic Web Worker,
// static/live/worker.js (new Worker('live/worker.js')), which loads
// live/wasm_exec.js (the Go release's, $(go env GOROOT)/lib/wasm; it must
// come from the Go that built the wasm) and live/raftkv.wasm from its own
// folder. Neither file is in the repository: BuildLive builds both into a
// folder (raftkv-sim -live does at start, then serves them with
// LiveHandler), and make site builds the whole app as a static folder. The
// worker and the page talk in messages (postMessage objects):
//
//	page -> worker
//	{type:"start", seed, options?, inputs?, untilMs?}
//	    a new session (the one before ends): seed (a number or a decimal
//	    string), options (sim.Options fields over the live preset, such as
//	    {members: 3, clients: 2, disablePreVote: true}; preset is always
//	    "live"); inputs, earlier input events to apply again where they
//	    were (a fork), or inputs with only an atMs (a script), applied
//	    after every event due by then; then the clock is advanced to
//	    untilMs
//	{type:"advance", toMs}    run every event due up to virtual time toMs
//	{type:"advance", events: n}  run events until n of them have been
//	    traced (a single step is 1; a tick that changes nothing is no step)
//	{type:"input", input}     apply an action now, at the engine's time
//	{type:"check"}            Porcupine on the client history so far
//	{type:"export"}           the session as a trace and the command that
//	                          replays it
//
//	worker -> page
//	{type:"ready"}            the wasm is loaded (messages sent before
//	                          wait for it)
//	{type:"header", header}   the trace header of a new session
//	{type:"events", events, nowMs}  the trace events since the last
//	    batch, in order, and the engine's virtual time after them
//	{type:"check", verdict, detail, html, operations, ambiguous}
//	    verdict "ok", "illegal" or "unknown"; html is Porcupine's
//	    visualization (a linearization, or the longest partial ones)
//	{type:"export", trace, command, filename}  trace is the whole session
//	    as JSON Lines, ending with an end event at the engine's time;
//	    filename is raftkv-live-SEED.jsonl and command is "go run
//	    ./cmd/raftkv-sim -replay raftkv-live-SEED.jsonl -trace
//	    replayed.jsonl", which replays it, writes the replay and says
//	    whether it is the same byte for byte
//	{type:"error", message}  a refused message or input: why
//
// Every start, advance and input is answered by at least one events
// message (a start by its header, then events from time 0 in batches of
// at most 5 s of virtual time, the last at untilMs; a refused input by its
// error, then events with none), so the page can keep one request in
// flight; only when there is no session (its start failed: a bad seed or
// options) is the answer an error alone. Inputs ({kind, ...}; sim.Input):
//
//	{kind: "crash"|"restart"|"pause"|"resume"|"timeout"|"isolate"|"rejoin", id}
//	{kind: "transfer", id}           the leader hands leadership to id
//	{kind: "add"} {kind: "remove", id}  one membership change at a time
//	{kind: "cut"|"heal", from, to, both}  one way, or both with both: true
//	{kind: "healAll"}                 every cut healed, every clog ended
//	{kind: "clog", from, to, ms}      the link holds its messages ms long
//	{kind: "drop", mid}               a message on the wire, by its mid
//	{kind: "client", op, id, key, value?, prev?, quorum?}
//	    op put, get, cas (value, prev), delete (prev: compare-and-delete)
//	    or watch, sent to member id; a get reads through ReadIndex, or with
//	    quorum: false from that member's store at once (possibly stale,
//	    which Porcupine then shows)
//
// An input that applies is traced first as an input event, {"t", "type":
// "input", "kind", ..., "events"}, then its effects as the usual events: a
// crash with reason "user", a drop with reason "user" (the message is
// never delivered), a links event with every one-way cut in force after a
// cut, heal, isolate, rejoin or healAll ({"type":"links","cut":[[from,
// to],...]}, no cut: none), clog and unclog, transfer, join and churn,
// and a client's request, redirect and response (a local get's request
// has kind "local"; a watch's response comes when the key changes). An
// input that cannot apply (a member already down, a message no longer in
// flight) is refused with an error and leaves no trace. "events" counts
// the simulator's events run before the input, so a fork sends back the
// input events as they came (the worker takes atMs from t) with the same
// options, and gets the same events again. A checker that fires ends the
// session with an end event (result safety or crash, and the reason);
// everything after answers an error.
package visualizer
