package server

import (
	"context"
	"fmt"
	"go/token"
	"reflect"
	"runtime"
	"strings"
)

var (
	typeOfError   = reflect.TypeFor[error]()
	typeOfContext = reflect.TypeFor[context.Context]()
)

// reservedPrefix starts the service paths brisk keeps for itself (see PROTOCOL.md).
const reservedPrefix = "_brisk"

// RegistrationError says which method (or function) was rejected and why.
type RegistrationError struct {
	Service string
	Method  string // empty when the whole service was rejected
	Reason  string
}

// Error implements the error interface.
func (e *RegistrationError) Error() string {
	if e.Method == "" {
		return fmt.Sprintf("brisk: cannot register service %q: %s", e.Service, e.Reason)
	}
	return fmt.Sprintf("brisk: cannot register %s.%s: %s", e.Service, e.Method, e.Reason)
}

// methodType is one callable method, resolved once at registration.
type methodType struct {
	fn        reflect.Value // func(rcvr?, ctx, args, reply) error
	rcvr      reflect.Value // invalid for plain functions
	argType   reflect.Type  // the type decoded into (the pointee when argIsPtr)
	argIsPtr  bool
	replyType reflect.Type // the pointee of the reply pointer
	stream    bool         // func(rcvr?, ctx, *Stream) error: argType and replyType are nil
}

// service is a registered name and its methods. It is immutable once built.
type service struct {
	name     string
	metadata string
	methods  map[string]*methodType
}

// checkSignature validates func(ctx, args, *reply) error, or func(ctx, *Stream) error for a
// stream method (after the receiver, if any).
func checkSignature(t reflect.Type, offset int) (*methodType, string) {
	if t.NumIn() == 2+offset && t.In(offset+1) == typeOfStream {
		if t.In(offset) != typeOfContext {
			return nil, "first parameter must be context.Context, is " + t.In(offset).String()
		}
		if t.NumOut() != 1 || t.Out(0) != typeOfError {
			return nil, "must return exactly one value, of type error"
		}
		return &methodType{stream: true}, ""
	}
	if t.NumIn() != 3+offset {
		return nil, fmt.Sprintf("has %d parameters, want (ctx context.Context, args, reply *T) or (ctx context.Context, st *server.Stream)", t.NumIn()-offset)
	}
	if t.In(offset) != typeOfContext {
		return nil, "first parameter must be context.Context, is " + t.In(offset).String()
	}
	argType := t.In(offset + 1)
	if !isExportedOrBuiltin(argType) {
		return nil, "argument type " + argType.String() + " is not exported"
	}
	replyType := t.In(offset + 2)
	if replyType.Kind() != reflect.Pointer {
		return nil, "reply type " + replyType.String() + " must be a pointer"
	}
	if !isExportedOrBuiltin(replyType) {
		return nil, "reply type " + replyType.String() + " is not exported"
	}
	if t.NumOut() != 1 || t.Out(0) != typeOfError {
		return nil, "must return exactly one value, of type error"
	}
	mt := &methodType{replyType: replyType.Elem()}
	if argType.Kind() == reflect.Pointer {
		mt.argIsPtr = true
		mt.argType = argType.Elem()
	} else {
		mt.argType = argType
	}
	return mt, ""
}

func isExportedOrBuiltin(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return token.IsExported(t.Name()) || t.PkgPath() == ""
}

// newService reflects rcvr's exported methods of the right shape. Methods of another shape
// are an error only when none qualifies, so helper methods on a service type are allowed.
func newService(name string, rcvr any, metadata string) (*service, error) {
	if rcvr == nil {
		return nil, &RegistrationError{Service: name, Reason: "receiver is nil"}
	}
	if name == "" {
		return nil, &RegistrationError{Service: name, Reason: "empty service name"}
	}
	if strings.HasPrefix(name, reservedPrefix) {
		return nil, &RegistrationError{Service: name, Reason: "names starting with " + reservedPrefix + " are reserved"}
	}
	v := reflect.ValueOf(rcvr)
	t := v.Type()
	s := &service{name: name, metadata: metadata, methods: make(map[string]*methodType)}
	var rejected []string
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		mt, why := checkSignature(m.Type, 1)
		if mt == nil {
			rejected = append(rejected, m.Name+": "+why)
			continue
		}
		mt.fn = m.Func
		mt.rcvr = v
		s.methods[m.Name] = mt
	}
	if len(s.methods) == 0 {
		reason := "type " + t.String() + " has no exported methods of the form func(ctx context.Context, args *A, reply *R) error or func(ctx context.Context, st *server.Stream) error"
		if len(rejected) > 0 {
			reason += " (" + strings.Join(rejected, "; ") + ")"
		}
		return nil, &RegistrationError{Service: name, Reason: reason}
	}
	return s, nil
}

// newFunction validates a plain named function of the handler shape and returns its name.
func newFunction(servicePath string, fn any) (string, *methodType, error) {
	v := reflect.ValueOf(fn)
	if fn == nil || v.Kind() != reflect.Func {
		return "", nil, &RegistrationError{Service: servicePath, Reason: fmt.Sprintf("%T is not a function", fn)}
	}
	name, ok := funcName(runtime.FuncForPC(v.Pointer()).Name())
	if !ok {
		return "", nil, &RegistrationError{Service: servicePath, Method: name, Reason: "an anonymous function has no name; use RegisterFunctionName"}
	}
	mt, err := checkFunc(servicePath, name, fn)
	return name, mt, err
}

// funcName turns a runtime function name ("example.com/pkg.Square", "pkg.(*T).M-fm") into
// the method name it is published under ("Square", "M"). It reports false for closures,
// whose runtime names end in a generated part: "pkg.F.func1", "pkg.F.func1.2",
// "pkg.init.func3" (a package-level func literal), "pkg.glob..func1".
func funcName(full string) (string, bool) {
	full = strings.TrimSuffix(full, "-fm") // a method value
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		full = full[i+1:]
	}
	full = strings.ReplaceAll(full, "[...]", "") // a generic function's instantiation
	parts := strings.Split(full, ".")
	for _, p := range parts[1:] {
		if p == "" || strings.Trim(strings.TrimPrefix(p, "func"), "0123456789") == "" {
			return parts[len(parts)-1], false
		}
	}
	return parts[len(parts)-1], true
}

// checkFunc validates fn as func(ctx, args, reply) error.
func checkFunc(servicePath, name string, fn any) (*methodType, error) {
	v := reflect.ValueOf(fn)
	if fn == nil || v.Kind() != reflect.Func {
		return nil, &RegistrationError{Service: servicePath, Method: name, Reason: fmt.Sprintf("%T is not a function", fn)}
	}
	mt, why := checkSignature(v.Type(), 0)
	if mt == nil {
		return nil, &RegistrationError{Service: servicePath, Method: name, Reason: why}
	}
	mt.fn = v
	return mt, nil
}

// reflectName is the name Register uses: the concrete type's name.
func reflectName(rcvr any) string {
	t := reflect.TypeOf(rcvr)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	return t.Name()
}

// call runs the method, turning a panic into an error.
func (mt *methodType) call(ctx context.Context, argv, replyv reflect.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: stack()}
		}
	}()
	var out []reflect.Value
	if mt.rcvr.IsValid() {
		out = mt.fn.Call([]reflect.Value{mt.rcvr, reflect.ValueOf(ctx), argv, replyv})
	} else {
		out = mt.fn.Call([]reflect.Value{reflect.ValueOf(ctx), argv, replyv})
	}
	if e := out[0].Interface(); e != nil {
		return e.(error)
	}
	return nil
}

// panicError is a handler panic, reported to the caller as a service error.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("[service internal error]: %v", e.value) }

func stack() []byte {
	buf := make([]byte, 8<<10)
	return buf[:runtime.Stack(buf, false)]
}
