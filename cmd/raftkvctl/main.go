// Command raftkvctl is the command-line client for raftkv: the etcdctl v2
// commands, flags, output formats and exit codes, on package client, so
// scripts written for etcdctl (ETCDCTL_API=2) keep working.
//
//	raftkvctl set /message Hello
//	raftkvctl get /message
//	raftkvctl rm /message
//
// Run "raftkvctl --help" for the commands and "raftkvctl help <command>"
// for each command's flags and examples.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Watches end with Ctrl-C (exit 0); other commands are cancelled.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}
