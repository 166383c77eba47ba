package pgserver

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// child is a process started by launch.
type child struct {
	pid  int
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // the result of Wait, valid once done is closed
}

// launch starts cmd from a goroutine locked to its OS thread, which stays
// alive waiting for the process for the process's whole life.
//
// Linux sends the parent-death signal (SysProcAttr.Pdeathsig) when the
// thread that forked the child exits, not the process; Go's scheduler ends
// idle threads at will, so a child forked from an arbitrary goroutine could
// be signalled while we still run. Pinned this way, the thread exits only
// when the child has, or when the whole process dies (even by SIGKILL),
// which is when we want the signal sent.
func launch(cmd *exec.Cmd) (*child, error) {
	c := &child{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, Go ends the locked
		// thread, by then harmlessly.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		c.pid = cmd.Process.Pid
		started <- nil
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// kill sends SIGKILL to the child's process group (it leads one, started
// with Setpgid) and waits up to 5 seconds for the child to be reaped.
func (c *child) kill() {
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// exitErr returns how the child exited; call it once done is closed.
func (c *child) exitErr() error {
	if c.err == nil {
		return errors.New("exit status 0")
	}
	return c.err
}
