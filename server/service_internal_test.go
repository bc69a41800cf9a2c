package server

import "testing"

func TestFuncName(t *testing.T) {
	tests := []struct {
		full string
		name string
		ok   bool
	}{
		{"github.com/x/y.Square", "Square", true},
		{"main.Square", "Square", true},
		{"gopkg.in/yaml.v3.Decode", "Decode", true},
		{"github.com/x/y.(*T).Method-fm", "Method", true},
		{"github.com/x/y.(*T).Method", "Method", true},
		{"github.com/x/y.Generic[...]", "Generic", true},
		{"github.com/x/y.(*G[...]).Method-fm", "Method", true},
		{"github.com/x/y.TestX.func1", "func1", false},
		{"github.com/x/y.TestX.func14.1", "1", false},
		{"github.com/x/y.main.func2.func4", "func4", false},
		{"github.com/x/y.init.func1", "func1", false},
		{"github.com/x/y.glob..func1", "func1", false},
	}
	for _, tt := range tests {
		name, ok := funcName(tt.full)
		if name != tt.name || ok != tt.ok {
			t.Errorf("funcName(%q) = %q, %v; want %q, %v", tt.full, name, ok, tt.name, tt.ok)
		}
	}
}
