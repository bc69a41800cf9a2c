package main

import (
	"github.com/spf13/cobra"
)

// newBenchCmd builds "brisk bench ADDR Service.Method '{json}'", the load generator.
func newBenchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "bench ADDR Service.Method [JSON]",
		Short: "Load-test a method (work in progress)",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErrorf("bench: not implemented yet")
		},
	}
}
