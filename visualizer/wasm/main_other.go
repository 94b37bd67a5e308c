//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// Built for anything but WebAssembly, the command only says how to build
// it.
func main() {
	fmt.Fprintln(os.Stderr, "visualizer/wasm runs in a browser: build it with GOOS=js GOARCH=wasm go build -o raftkv.wasm ./visualizer/wasm (make site does)")
	os.Exit(2)
}
