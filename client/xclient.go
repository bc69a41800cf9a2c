package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/protocol"
)

// FailMode says what an XClient does when a call fails.
type FailMode int

const (
	// Failover retries on another server.
	Failover FailMode = iota
	// Failfast returns the first error.
	Failfast
	// Failtry retries on the same server.
	Failtry
	// Failbackup sends the call to a second server if the first has not answered within
	// Option.BackupLatency; the first answer wins and the other call is cancelled.
	Failbackup
)

// String returns the name.
func (m FailMode) String() string {
	switch m {
	case Failover:
		return "Failover"
	case Failfast:
		return "Failfast"
	case Failtry:
		return "Failtry"
	case Failbackup:
		return "Failbackup"
	}
	return fmt.Sprintf("FailMode(%d)", int(m))
}

var (
	// ErrNoServer means discovery lists no server for the service.
	ErrNoServer = errors.New("brisk: no server for the service")
	// ErrNoAvailableServer means every server is excluded: breakers open, waiting to
	// redial, or already tried by this call.
	ErrNoAvailableServer = errors.New("brisk: no available server for the service")
)

// XClient calls one service over the servers a Discovery lists, choosing a server per call
// with a selector, handling failures by its fail mode, and keeping a circuit breaker and
// multiplexed connections per server. It is safe for concurrent use.
type XClient struct {
	servicePath string
	failMode    FailMode
	selector    Selector
	disc        discovery.Discovery
	opt         Option
	idempotent  map[string]bool
	budget      retryBudget

	endpoints atomic.Pointer[[]*Endpoint] // immutable snapshot, replaced on change

	mu        sync.Mutex
	states    map[string]*endpointState
	closed    bool
	stopWatch func()
	watchDone chan struct{}
	selErr    error
}

// NewXClient returns an XClient for servicePath over the servers d lists. The XClient
// follows d's changes until Close. An invalid select mode makes every call fail with the
// reason.
func NewXClient(servicePath string, failMode FailMode, selectMode SelectMode, d discovery.Discovery, option Option) *XClient {
	opt := option.withDefaults()
	x := &XClient{
		servicePath: servicePath,
		failMode:    failMode,
		disc:        d,
		opt:         opt,
		idempotent:  make(map[string]bool, len(opt.IdempotentMethods)),
		states:      make(map[string]*endpointState),
		watchDone:   make(chan struct{}),
	}
	x.budget.init(opt.RetryBudget)
	for _, m := range opt.IdempotentMethods {
		x.idempotent[m] = true
	}
	x.selector, x.selErr = newSelector(selectMode, opt)
	empty := []*Endpoint{}
	x.endpoints.Store(&empty)
	x.update(d.Servers())
	ch, stop := d.Watch()
	x.stopWatch = stop
	go x.watch(ch)
	return x
}

func (x *XClient) watch(ch <-chan []discovery.Server) {
	defer close(x.watchDone)
	for list := range ch {
		x.update(list)
	}
}

// update installs a new server list, keeping the connections and load of servers that stay
// and closing those of servers that left.
func (x *XClient) update(list []discovery.Server) {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	next := make([]*Endpoint, 0, len(list))
	states := make(map[string]*endpointState, len(list))
	for _, s := range list {
		if s.Inactive {
			continue // a discovery built without the default filter still must not route here
		}
		st := x.states[s.Key]
		if st == nil {
			st = x.newState()
		}
		states[s.Key] = st
		next = append(next, &Endpoint{Server: s, endpointState: st})
	}
	var gone []*endpointState
	for k, st := range x.states {
		if states[k] == nil {
			gone = append(gone, st)
		}
	}
	x.states = states
	x.endpoints.Store(&next)
	if u, ok := x.selector.(ServersUpdater); ok {
		u.UpdateServers(next)
	}
	x.mu.Unlock()
	for _, st := range gone {
		st.retire()
	}
}

func (x *XClient) newState() *endpointState {
	st := &endpointState{}
	if x.opt.BreakerThreshold > 0 {
		st.breaker.threshold = int32(x.opt.BreakerThreshold)
	}
	st.breaker.cooldown = x.opt.BreakerCooldown
	st.conns.init(x.opt.ConnsPerServer)
	return st
}

// Endpoints returns the servers the XClient currently routes to, with their load.
func (x *XClient) Endpoints() []*Endpoint {
	return append([]*Endpoint(nil), *x.endpoints.Load()...)
}

// Auth sets the token sent as __AUTH with every call on connections opened from now on.
// Call it before the first call.
func (x *XClient) Auth(token string) {
	x.mu.Lock()
	x.opt.AuthToken = token
	x.mu.Unlock()
}

// Close stops following discovery and closes every connection; calls in flight fail with
// ErrShutdown. It does not close the Discovery, which the caller owns.
func (x *XClient) Close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	states := x.states
	x.states = map[string]*endpointState{}
	empty := []*Endpoint{}
	x.endpoints.Store(&empty)
	x.mu.Unlock()
	x.stopWatch()
	<-x.watchDone
	for _, st := range states {
		st.conns.close()
	}
	return nil
}

func (x *XClient) isClosed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.closed
}

// clientOption is the Option new connections are made with.
func (x *XClient) clientOption() Option {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.opt
}

// pick chooses a server for a call among those usable now and not in excluded.
func (x *XClient) pick(info SelectInfo, excluded []*endpointState) (*Endpoint, error) {
	if x.selErr != nil {
		return nil, x.selErr
	}
	eps := *x.endpoints.Load()
	if len(eps) == 0 {
		if x.isClosed() {
			return nil, ErrShutdown
		}
		return nil, fmt.Errorf("%w %q", ErrNoServer, x.servicePath)
	}
	now := time.Now().UnixNano()
	cands := eps
	for i, e := range eps {
		if !e.usable(now, excluded) {
			// Something is excluded: build the filtered list (the common case allocates nothing).
			cands = make([]*Endpoint, 0, len(eps))
			cands = append(cands, eps[:i]...)
			for _, e := range eps[i+1:] {
				if e.usable(now, excluded) {
					cands = append(cands, e)
				}
			}
			break
		}
	}
	for len(cands) > 0 {
		i := x.selector.Select(info, cands)
		if i < 0 || i >= len(cands) {
			return nil, fmt.Errorf("brisk: selector returned index %d of %d candidates", i, len(cands))
		}
		e := cands[i]
		if e.breaker.acquire(now) {
			return e, nil
		}
		// Another call took the half-open probe: choose among the rest.
		cands = append(append([]*Endpoint(nil), cands[:i]...), cands[i+1:]...)
	}
	return nil, fmt.Errorf("%w %q", ErrNoAvailableServer, x.servicePath)
}

func (e *Endpoint) usable(now int64, excluded []*endpointState) bool {
	for _, st := range excluded {
		if st == e.endpointState {
			return false
		}
	}
	return e.breaker.available(now) && e.conns.dialAllowed(now)
}

// Call invokes serviceMethod (the method name alone: the XClient knows the service) on a
// server chosen by the selector, retrying by the fail mode.
func (x *XClient) Call(ctx context.Context, serviceMethod string, args, reply any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if x.failMode == Failbackup && reply != nil {
		return x.callBackup(ctx, serviceMethod, args, reply)
	}
	return x.retrying(ctx, serviceMethod, args, func(e *Endpoint) (error, bool) {
		return x.callOn(ctx, e, serviceMethod, args, reply)
	})
}

// retrying makes attempts on servers chosen by the selector until one succeeds or the fail
// mode, the retry budget or ctx says to stop, and returns the last attempt's error. attempt
// makes one attempt on e and returns its error (a ServiceError when the server answered
// with one) and whether the request may have reached the server. When no server can be
// picked, the error says so, wrapping the last attempt's error if there was one. Call and
// Invoke both retry here; args is what the selector sees as SelectInfo.Args.
func (x *XClient) retrying(ctx context.Context, method string, args any, attempt func(e *Endpoint) (err error, sent bool)) error {
	x.budget.deposit()
	info := SelectInfo{Ctx: ctx, ServicePath: x.servicePath, ServiceMethod: method, Args: args}
	idempotent := x.idempotent[method]
	retries := x.opt.Retries
	if x.failMode == Failfast {
		retries = 0
	}
	var excludedBuf [4]*endpointState
	excluded := excludedBuf[:0]
	var e *Endpoint
	var err error
	for n := 0; ; n++ {
		if e == nil || x.failMode != Failtry {
			var perr error
			e, perr = x.pick(info, excluded)
			if perr != nil {
				if err != nil {
					return fmt.Errorf("%w (last error: %w)", perr, err)
				}
				return perr
			}
		}
		var sent bool
		err, sent = attempt(e)
		if err == nil || n >= retries || !retryable(ctx, err, sent, idempotent) {
			return err
		}
		// A request that was never written runs the handler at most once wherever it
		// goes, so only re-sending one that may have run is charged to the budget.
		if sent && !x.budget.withdraw() {
			return err
		}
		if x.failMode == Failover {
			excluded = append(excluded, e.endpointState)
		}
		if !x.backoff(ctx, n) {
			return err
		}
	}
}

// callOn makes one attempt on e, keeping its load figures and breaker up to date. sent
// reports whether the request may have reached the server.
func (x *XClient) callOn(ctx context.Context, e *Endpoint, method string, args, reply any) (err error, sent bool) {
	return x.attemptOn(ctx, e, true, func(c *Client) (error, bool) {
		return c.invoke(ctx, x.servicePath, method, args, reply)
	})
}

// attemptOn makes one attempt on e with do over one of e's connections, keeping e's load
// figures and breaker up to date. do returns the attempt's error (a ServiceError when the
// server answered with one) and whether the request may have reached the server; so does
// attemptOn. callOn, invokeOn and NewStream attempt here; timed says whether the attempt's
// duration is a latency sample for the selector.
func (x *XClient) attemptOn(ctx context.Context, e *Endpoint, timed bool, do func(c *Client) (err error, sent bool)) (err error, sent bool) {
	// Counted before taking a connection, so that a server leaving the list (retire)
	// either sees this call and leaves its connection open, or closes it before the
	// call takes it, in which case the call fails unsent and may go elsewhere.
	e.inflight.Add(1)
	defer e.callEnded()
	c, err := e.conns.get(ctx, x, e)
	if err != nil {
		if ctx.Err() != nil {
			e.breaker.release()
			return ctx.Err(), false
		}
		e.breaker.failure(time.Now().UnixNano())
		return err, false
	}
	start := time.Now()
	err, sent = do(c)
	elapsed := time.Since(start)
	switch {
	case err == nil:
		if timed {
			e.observe(elapsed)
		}
		e.breaker.success()
	case IsServiceError(err):
		e.breaker.success() // the server answered
	case errors.Is(err, context.DeadlineExceeded):
		e.observe(elapsed) // a timeout is the slowest answer there is
		e.breaker.failure(time.Now().UnixNano())
	case errors.Is(err, context.Canceled):
		e.breaker.release()
	default:
		e.breaker.failure(time.Now().UnixNano())
	}
	return err, sent
}

// retryable says whether a failed attempt may be made again.
func retryable(ctx context.Context, err error, sent, idempotent bool) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if IsRefused(err) {
		return true // refused before the method ran
	}
	if IsServiceError(err) {
		return false
	}
	if !sent {
		return true
	}
	return idempotent && (IsTransportError(err) || errors.Is(err, ErrShutdown))
}

// IsRefused reports whether err says a server refused the call before running its method:
// it was shutting down, overloaded or over a rate limit. Such a call may be retried on
// another server whatever the method; XClient's Failover and Failtry do so.
func IsRefused(err error) bool {
	var se ServiceError
	return errors.As(err, &se) && protocol.IsRefusalText(string(se))
}

// IsNotFound reports whether err says the server has no such service or method.
func IsNotFound(err error) bool {
	var se ServiceError
	return errors.As(err, &se) && protocol.IsNotFoundText(string(se))
}

// backoff waits before retry number attempt+1: full jitter below an exponential ceiling.
func (x *XClient) backoff(ctx context.Context, attempt int) bool {
	ceiling := x.opt.RetryBackoff << min(attempt, 20)
	if ceiling > x.opt.RetryBackoffMax || ceiling <= 0 {
		ceiling = x.opt.RetryBackoffMax
	}
	d := time.Duration(rand.Int64N(int64(ceiling) + 1))
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// callBackup is Failbackup for Call: each attempt decodes into a reply of its own, and the
// winner's is copied into reply.
func (x *XClient) callBackup(ctx context.Context, method string, args, reply any) error {
	r, err := backup(x, ctx, method, args, func(ctx context.Context, e *Endpoint, results chan<- backupResult[any]) {
		r := newReplyLike(reply)
		go func() {
			err, _ := x.callOn(ctx, e, method, args, r)
			results <- backupResult[any]{r, err}
		}()
	})
	if err == nil {
		setReply(reply, r)
	}
	return err
}

// backupResult is the outcome of one Failbackup attempt: its result and error (a
// ServiceError when the server answered with one).
type backupResult[T any] struct {
	v   T
	err error
}

// backup is Failbackup: ask one server, and a second if the first has not answered within
// BackupLatency or failed without an answer; the first answer (a success or a service
// error) wins and the other attempt is cancelled. Otherwise the last error is returned.
// start launches one attempt on e, on a goroutine of its own that sends the outcome to
// results. Call and Invoke both race here; args is what the selector sees as
// SelectInfo.Args.
func backup[T any](x *XClient, ctx context.Context, method string, args any,
	start func(ctx context.Context, e *Endpoint, results chan<- backupResult[T])) (T, error) {
	var zero T
	info := SelectInfo{Ctx: ctx, ServicePath: x.servicePath, ServiceMethod: method, Args: args}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan backupResult[T], 2)
	var tried []*endpointState
	launch := func() error {
		e, err := x.pick(info, tried)
		if err != nil {
			return err
		}
		tried = append(tried, e.endpointState)
		start(ctx, e, results)
		return nil
	}
	if err := launch(); err != nil {
		return zero, err
	}
	outstanding := 1
	timer := time.NewTimer(x.opt.BackupLatency)
	defer timer.Stop()
	var lastErr error
	backupSent := false
	for outstanding > 0 {
		select {
		case <-timer.C:
			if !backupSent {
				backupSent = true
				if launch() == nil {
					outstanding++
				}
			}
			continue
		case r := <-results:
			outstanding--
			if r.err == nil || IsServiceError(r.err) || ctx.Err() != nil {
				cancel()
				// Wait for the cancelled attempt so no goroutine outlives the call.
				for ; outstanding > 0; outstanding-- {
					<-results
				}
				return r.v, r.err
			}
			lastErr = r.err
			if !backupSent {
				// The first server failed fast: ask another at once.
				backupSent = true
				if launch() == nil {
					outstanding++
				}
			}
		}
	}
	return zero, lastErr
}

// newReplyLike returns a new value of reply's type, so concurrent attempts never share
// one reply.
func newReplyLike(reply any) any {
	return reflect.New(reflect.TypeOf(reply).Elem()).Interface()
}

func setReply(dst, src any) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}

// Go calls serviceMethod asynchronously with the XClient's fail mode; the call is sent on
// done (or a new channel if nil) when it ends.
func (x *XClient) Go(ctx context.Context, serviceMethod string, args, reply any, done chan *Call) *Call {
	call := &Call{ServicePath: x.servicePath, ServiceMethod: serviceMethod, Args: args, Reply: reply, Done: done}
	if call.Done == nil || cap(call.Done) == 0 {
		call.Done = make(chan *Call, 1)
	}
	go func() {
		call.Error = x.Call(ctx, serviceMethod, args, reply)
		call.done()
	}()
	return call
}

// Oneshot sends a oneway call: no reply, and the server sends nothing back. It fails only
// if the request could not be sent.
func (x *XClient) Oneshot(ctx context.Context, serviceMethod string, args any) error {
	return x.Call(ctx, serviceMethod, args, nil)
}

// Receipt is one server's outcome of an Inform call.
type Receipt struct {
	Address string // the server's network@address
	Reply   any    // a new value of the reply's type, filled on success
	Error   error
}

// fanOut calls every server at once and returns each one's receipt.
func (x *XClient) fanOut(ctx context.Context, method string, args, reply any, firstWins bool) ([]Receipt, error) {
	eps := *x.endpoints.Load()
	if len(eps) == 0 {
		return nil, fmt.Errorf("%w %q", ErrNoServer, x.servicePath)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	receipts := make([]Receipt, len(eps))
	done := make(chan int, len(eps))
	for i, e := range eps {
		receipts[i].Address = e.Key
		if reply != nil {
			receipts[i].Reply = newReplyLike(reply)
		}
		go func() {
			receipts[i].Error, _ = x.callOn(ctx, e, method, args, receipts[i].Reply)
			done <- i
		}()
	}
	won := -1
	for range eps {
		i := <-done
		if firstWins && won < 0 && receipts[i].Error == nil {
			won = i
			cancel()
		}
	}
	if firstWins && won >= 0 {
		return receipts[won : won+1], nil
	}
	return receipts, nil
}

// Broadcast calls every server. It returns an error if any call fails (all are made);
// otherwise reply holds one server's reply.
func (x *XClient) Broadcast(ctx context.Context, serviceMethod string, args, reply any) error {
	receipts, err := x.fanOut(ctx, serviceMethod, args, reply, false)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range receipts {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Address, r.Error))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if reply != nil {
		setReply(reply, receipts[0].Reply)
	}
	return nil
}

// Fork calls every server and returns as soon as one succeeds, cancelling the others;
// reply holds that server's reply. If all fail it returns their errors.
func (x *XClient) Fork(ctx context.Context, serviceMethod string, args, reply any) error {
	receipts, err := x.fanOut(ctx, serviceMethod, args, reply, true)
	if err != nil {
		return err
	}
	if len(receipts) == 1 && receipts[0].Error == nil {
		if reply != nil {
			setReply(reply, receipts[0].Reply)
		}
		return nil
	}
	var errs []error
	for _, r := range receipts {
		errs = append(errs, fmt.Errorf("%s: %w", r.Address, r.Error))
	}
	return errors.Join(errs...)
}

// Inform calls every server and returns every server's outcome. reply only gives the type
// of the replies: each receipt has its own.
func (x *XClient) Inform(ctx context.Context, serviceMethod string, args, reply any) ([]Receipt, error) {
	return x.fanOut(ctx, serviceMethod, args, reply, false)
}

// retryBudget lets retries happen only while they stay a small share of calls: each call
// deposits ratio of a token, each retry spends one, and the balance is capped.
type retryBudget struct {
	milli   atomic.Int64 // thousandths of a retry
	perCall int64
	cap     int64
}

const retryReserve = 10 // retries allowed before any call has deposited

func (b *retryBudget) init(ratio float64) {
	b.perCall = max(int64(ratio*1000), 1)
	b.cap = retryReserve * 1000
	b.milli.Store(b.cap)
}

func (b *retryBudget) deposit() {
	if b.milli.Load() >= b.cap {
		return
	}
	if b.milli.Add(b.perCall) > b.cap {
		b.milli.Store(b.cap)
	}
}

func (b *retryBudget) withdraw() bool {
	for {
		v := b.milli.Load()
		if v < 1000 {
			return false
		}
		if b.milli.CompareAndSwap(v, v-1000) {
			return true
		}
	}
}

// connSlot holds an endpoint's connections, dialled lazily, once under concurrency, and
// replaced when they break; failed dials back off exponentially.
type connSlot struct {
	clients []atomic.Pointer[Client]
	next    atomic.Uint32
	retryAt atomic.Int64 // unix nanoseconds before which no dial is tried

	mu       sync.Mutex
	dialing  []chan struct{}
	failures int
	lastErr  error
	closed   bool
	retired  atomic.Bool // the server left the list: close when idle
}

func (s *connSlot) init(n int) {
	s.clients = make([]atomic.Pointer[Client], n)
	s.dialing = make([]chan struct{}, n)
}

func (s *connSlot) dialAllowed(now int64) bool { return now >= s.retryAt.Load() }

// get returns a live connection to e, dialling it if needed.
func (s *connSlot) get(ctx context.Context, x *XClient, e *Endpoint) (*Client, error) {
	i := 0
	if len(s.clients) > 1 {
		i = int(s.next.Add(1) % uint32(len(s.clients)))
	}
	for {
		if c := s.clients[i].Load(); c != nil && !c.IsShutdown() {
			return c, nil
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrShutdown
		}
		c := s.clients[i].Load()
		if c != nil && !c.IsShutdown() {
			s.mu.Unlock()
			return c, nil
		}
		if c != nil {
			// Broken: forget it so the next call redials (a restarted server is used again).
			s.clients[i].Store(nil)
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		if ch := s.dialing[i]; ch != nil {
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if time.Now().UnixNano() < s.retryAt.Load() {
			err := &TransportError{Op: "dial", Err: fmt.Errorf("%s: waiting to redial after: %w", e.Key, s.lastErr)}
			s.mu.Unlock()
			return nil, err
		}
		ch := make(chan struct{})
		s.dialing[i] = ch
		s.mu.Unlock()

		nc := NewClient(x.clientOption())
		err := nc.Connect(e.Network, e.Address)

		s.mu.Lock()
		s.dialing[i] = nil
		close(ch)
		if err != nil {
			s.failures++
			backoff := x.opt.RedialBackoff << min(s.failures-1, 20)
			if backoff > x.opt.RedialBackoffMax || backoff <= 0 {
				backoff = x.opt.RedialBackoffMax
			}
			s.retryAt.Store(time.Now().Add(backoff).UnixNano())
			s.lastErr = err
			s.mu.Unlock()
			return nil, err
		}
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return nil, ErrShutdown
		}
		s.failures = 0
		s.retryAt.Store(0)
		s.clients[i].Store(nc)
		s.mu.Unlock()
		return nc, nil
	}
}

// retire stops handing out st's connections and closes them once no call is in flight on
// them: a server that left the list (drained, or removed from the registry) still answers
// the calls already sent to it.
func (st *endpointState) retire() {
	st.conns.retired.Store(true)
	st.conns.shut()
	if st.inflight.Load() == 0 {
		st.conns.close()
	}
}

// callEnded ends a call counted in inflight and closes a retired server's connections
// after its last call.
func (st *endpointState) callEnded() {
	if st.inflight.Add(-1) == 0 && st.conns.retired.Load() {
		st.conns.close()
	}
}

// shut makes later gets fail with ErrShutdown, leaving open connections alone.
func (s *connSlot) shut() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// close closes every connection; later gets fail with ErrShutdown.
func (s *connSlot) close() {
	s.mu.Lock()
	s.closed = true
	var cs []*Client
	for i := range s.clients {
		if c := s.clients[i].Swap(nil); c != nil {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

// NewStream opens a stream to the stream method serviceMethod (the method name alone) on a
// server chosen by the selector (see Client.NewStream). Opening a stream fails over like a
// call that was not sent; the stream itself is not moved once open. The server stays
// connected while the stream is open, even if it leaves the service's list.
func (x *XClient) NewStream(ctx context.Context, serviceMethod string) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var st *Stream
	err := x.retrying(ctx, serviceMethod, nil, func(e *Endpoint) (error, bool) {
		e.inflight.Add(1) // held until the stream ends
		// Once: a stream that failed after it opened (in a middleware) released it already.
		release := sync.OnceFunc(e.callEnded)
		// Untimed: opening a stream takes no round trip, which says nothing of the
		// server's latency.
		return x.attemptOn(ctx, e, false, func(c *Client) (error, bool) {
			s, err := c.newStream(ctx, x.servicePath+"."+serviceMethod, release)
			if err != nil {
				release()
				return err, false
			}
			st = s
			return nil, true
		})
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
