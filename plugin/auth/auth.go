package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// TextUnauthorized starts the text of every refusal, as a client sees it.
const TextUnauthorized = "brisk: unauthorized"

// ErrUnauthorized is wrapped by every error a refusal returns on the server side.
var ErrUnauthorized = errors.New(TextUnauthorized)

// Errors the built-in checks return (wrapped in ErrUnauthorized by the middleware).
var (
	// ErrNoToken says the request carries no token.
	ErrNoToken = errors.New("no token")
	// ErrBadToken says the token is not accepted.
	ErrBadToken = errors.New("invalid token")
	// ErrNoRule says no rule covers the request's service and method.
	ErrNoRule = errors.New("no rule for the method")
)

// CheckFunc decides whether token may call the method: nil accepts it, an error refuses it.
// The error's text reaches the caller after TextUnauthorized, so it should not say more
// than the caller may know. ctx is the request's; server.RequestMetadata(ctx) gives the rest
// of its metadata.
type CheckFunc func(ctx context.Context, token string) error

// Rule applies Check to the requests for Service and Method; an empty Service or Method
// matches any. A nil Check refuses every request it matches.
type Rule struct {
	Service string
	Method  string
	Check   CheckFunc
}

// Public is a CheckFunc that accepts any caller, token or not: the rule for methods that
// need no auth.
func Public(context.Context, string) error { return nil }

// Tokens returns a CheckFunc that accepts exactly the given tokens (compared in constant
// time) and refuses an empty token. The list is copied.
func Tokens(tokens ...string) CheckFunc {
	valid := make([][]byte, 0, len(tokens))
	for _, t := range tokens {
		if t != "" {
			valid = append(valid, []byte(t))
		}
	}
	return func(_ context.Context, token string) error {
		if token == "" {
			return ErrNoToken
		}
		ok := 0
		for _, v := range valid {
			ok |= subtle.ConstantTimeCompare(v, []byte(token))
		}
		if ok == 0 {
			return ErrBadToken
		}
		return nil
	}
}

type key struct{ service, method string }

// Rules is a compiled, immutable set of rules, safe for concurrent use.
type Rules struct {
	exact  map[key]CheckFunc // service and method
	svc    map[string]CheckFunc
	meth   map[string]CheckFunc
	any    CheckFunc
	hasAny bool
}

// NewRules compiles rules. Of two rules for the same service and method, the first wins.
func NewRules(rules ...Rule) *Rules {
	r := &Rules{exact: map[key]CheckFunc{}, svc: map[string]CheckFunc{}, meth: map[string]CheckFunc{}}
	for _, rule := range rules {
		check := rule.Check
		if check == nil {
			check = refuse
		}
		switch {
		case rule.Service != "" && rule.Method != "":
			k := key{rule.Service, rule.Method}
			if _, dup := r.exact[k]; !dup {
				r.exact[k] = check
			}
		case rule.Service != "":
			if _, dup := r.svc[rule.Service]; !dup {
				r.svc[rule.Service] = check
			}
		case rule.Method != "":
			if _, dup := r.meth[rule.Method]; !dup {
				r.meth[rule.Method] = check
			}
		default:
			if !r.hasAny {
				r.any, r.hasAny = check, true
			}
		}
	}
	return r
}

func refuse(context.Context, string) error { return ErrBadToken }

// lookup returns the most specific check for a method, nil if no rule matches.
func (r *Rules) lookup(service, method string) CheckFunc {
	if c, ok := r.exact[key{service, method}]; ok {
		return c
	}
	if c, ok := r.svc[service]; ok {
		return c
	}
	if c, ok := r.meth[method]; ok {
		return c
	}
	return r.any
}

// Check runs the rule for service and method on token and returns nil or an error wrapping
// ErrUnauthorized.
func (r *Rules) Check(ctx context.Context, service, method, token string) error {
	check := r.lookup(service, method)
	if check == nil {
		return fmt.Errorf("%w: %w", ErrUnauthorized, ErrNoRule)
	}
	if err := check(ctx, token); err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return nil
}

// Middleware refuses the requests whose token fails their rule, before the method and any
// inner middleware run. The connection stays open.
func (r *Rules) Middleware() server.Middleware {
	return func(next server.Handler) server.Handler {
		return func(ctx context.Context, inv *server.Invocation) error {
			if err := r.Check(ctx, inv.ServicePath, inv.ServiceMethod, inv.Metadata[protocol.AuthKey]); err != nil {
				return err
			}
			return next(ctx, inv)
		}
	}
}

// AuthFunc gives the rules as a server.AuthFunc (server.WithAuthFunc): a refused request
// also closes its connection.
func (r *Rules) AuthFunc() server.AuthFunc {
	return func(ctx context.Context, req *protocol.Message, token string) error {
		return r.Check(ctx, req.ServicePath, req.ServiceMethod, token)
	}
}

// Middleware is NewRules(rules...).Middleware().
func Middleware(rules ...Rule) server.Middleware { return NewRules(rules...).Middleware() }

// IsUnauthorized reports whether err, as a client sees it (a client.ServiceError) or as the
// server returns it, says the call was refused for want of a valid token.
func IsUnauthorized(err error) bool {
	if errors.Is(err, ErrUnauthorized) {
		return true
	}
	var se client.ServiceError
	return errors.As(err, &se) && strings.HasPrefix(string(se), TextUnauthorized)
}
