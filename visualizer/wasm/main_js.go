//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"
)

func main() {
	register(&engine{})
	select {} // the page calls in through globalThis.raftkvLive
}

// register makes globalThis.raftkvLive: the engine's methods for the
// worker (live/worker.js). Each takes strings and numbers and returns a
// plain object (see engine).
func register(e *engine) {
	api := js.Global().Get("Object").New()
	fn := func(f func(args []js.Value) answer) js.Func {
		return js.FuncOf(func(_ js.Value, args []js.Value) any { return js.ValueOf(f(args)) })
	}
	arg := func(args []js.Value, i int) js.Value {
		if i < len(args) {
			return args[i]
		}
		return js.Undefined()
	}
	str := func(v js.Value) string {
		switch v.Type() {
		case js.TypeString:
			return v.String()
		case js.TypeUndefined, js.TypeNull:
			return ""
		case js.TypeObject:
			return js.Global().Get("JSON").Call("stringify", v).String()
		case js.TypeNumber:
			return strconv.FormatFloat(v.Float(), 'f', -1, 64)
		}
		return js.Global().Call("String", v).String()
	}
	num := func(v js.Value) float64 {
		if v.Type() != js.TypeNumber {
			return -1
		}
		return v.Float()
	}
	api.Set("start", fn(func(a []js.Value) answer { return e.start(str(arg(a, 0)), str(arg(a, 1))) }))
	api.Set("input", fn(func(a []js.Value) answer { return e.input(str(arg(a, 0))) }))
	api.Set("applyAt", fn(func(a []js.Value) answer { return e.applyAt(str(arg(a, 0))) }))
	api.Set("advance", fn(func(a []js.Value) answer { return e.advance(num(arg(a, 0))) }))
	api.Set("step", fn(func(a []js.Value) answer { return e.step(num(arg(a, 0))) }))
	api.Set("check", fn(func([]js.Value) answer { return e.check() }))
	api.Set("export", fn(func([]js.Value) answer { return e.export() }))
	js.Global().Set("raftkvLive", api)
}
