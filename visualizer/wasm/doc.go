// Command wasm is raftkv's simulator (package sim) built for the browser:
// GOOS=js GOARCH=wasm go build -o raftkv.wasm ./visualizer/wasm (make
// site, raftkv-sim -live and visualizer.BuildLive do). Run by the
// visualizer's live worker (visualizer/static/live/worker.js, with the Go
// release's wasm_exec.js), it sets globalThis.raftkvLive, whose functions
// drive one live session (sim.Live):
//
//	start(seed, options)  a new session: seed a number or decimal string,
//	                      options a JSON object (or its text) of
//	                      sim.Options fields over the live preset
//	advance(toMs)         run every event due up to virtual time toMs
//	step(n)               run events until n of them have been traced
//	input(input)          apply a sim.Input now
//	applyAt(input)        apply a recorded input where it was (a fork)
//	check()               Porcupine on the client history so far
//	export()              the session as a trace that raftkv-sim -replay
//	                      reproduces byte for byte
//
// Each returns a plain object: "error" if something went wrong; after
// start, advance, step, input and applyAt, "events" (the new lines of the
// trace, JSON Lines) and "nowMs" (the virtual time), and after start the
// header line as "header"; check gives "verdict", "detail", "html",
// "operations" and "ambiguous"; export "trace", "filename" and "command".
// Built for anything else, the command only says how to build it.
//
// Its tests run under node: TestGlueUnderNode runs this package's
// WebAssembly tests with go_js_wasm_exec, and TestWorkerInNode drives the
// worker with the built wasm through the messages of visualizer/doc.go
// ("The live simulator") and reports the speed.
package main
