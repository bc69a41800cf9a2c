package server

import (
	"sync"
	"time"

	"github.com/brisk-rpc/brisk/protocol"
)

// workerIdleTimeout is how long an idle handler goroutine waits for more work before exiting.
const workerIdleTimeout = 10 * time.Second

type job struct {
	c   *conn
	req *protocol.Message
}

// workers runs each request on its own goroutine, but reuses goroutines that finished a
// request: a fresh goroutine pays for growing its stack through the codec and reflection
// frames on every call, which under load costs more than the call itself.
type workers struct {
	jobs chan job
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newWorkers() *workers {
	return &workers{jobs: make(chan job), quit: make(chan struct{})}
}

// run hands j to an idle goroutine, or starts one.
func (w *workers) run(j job) {
	select {
	case w.jobs <- j:
	default:
		w.wg.Add(1)
		go w.loop(j)
	}
}

func (w *workers) loop(j job) {
	defer w.wg.Done()
	j.c.handle(j.req)
	idle := time.NewTimer(workerIdleTimeout)
	defer idle.Stop()
	for {
		select {
		case j = <-w.jobs:
			j.c.handle(j.req)
			idle.Reset(workerIdleTimeout)
		case <-idle.C:
			return
		case <-w.quit:
			return
		}
	}
}

// stop makes idle goroutines exit and waits for busy ones to finish their request.
func (w *workers) stop() {
	w.once.Do(func() { close(w.quit) })
	w.wg.Wait()
}
