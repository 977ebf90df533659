package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/b24perm/b24perm/state"
	"github.com/spf13/cobra"
)

func newStateCmd(c *Command) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Inspect and repair the state (list, show, rm)",
	}
	cmd.PersistentFlags().StringVar(&path, "state", "", "state file (default "+state.DefaultPath+")")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the managed addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := c.loadStateAt(cmd, path)
			if err != nil {
				return err
			}
			for _, a := range st.Addresses() {
				fmt.Fprintln(cmd.OutOrStdout(), a)
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "show ADDRESS",
		Short: "Show one managed object",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := c.loadStateAt(cmd, path)
			if err != nil {
				return err
			}
			r, ok := st.Resources[args[0]]
			if !ok {
				return notInState(args[0])
			}
			b, _ := json.MarshalIndent(struct {
				Address string `json:"address"`
				state.Resource
			}{args[0], r}, "", "  ")
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}, &cobra.Command{
		Use:   "rm ADDRESS...",
		Short: "Forget objects without touching the portal",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := c.openState(cmd.Context(), path)
			if err != nil {
				return err
			}
			unlock, err := c.takeLock(cmd, store, "state rm", 0)
			if err != nil {
				return err
			}
			defer unlock()
			st, err := store.Load()
			if err != nil {
				return err
			}
			for _, a := range args {
				if _, ok := st.Resources[a]; !ok {
					return notInState(a)
				}
			}
			for _, a := range args {
				delete(st.Resources, a)
			}
			if err := store.Save(st); err != nil {
				return err
			}
			for _, a := range args {
				fmt.Fprintf(cmd.OutOrStdout(), "Removed %s\n", a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Successfully removed %s from the state; the portal was not changed.\n", plural(len(args), "object", "objects"))
			return nil
		},
	})
	return cmd
}

func newForceUnlockCmd(c *Command) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "force-unlock LOCK_ID",
		Short: "Remove a stale state lock (after a crashed apply)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := c.openState(cmd.Context(), path)
			if err != nil {
				return err
			}
			if err := store.ForceUnlock(args[0]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "The state has been unlocked.")
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "state", "", "state file (default "+state.DefaultPath+")")
	return cmd
}

func (c *Command) loadStateAt(cmd *cobra.Command, path string) (*state.State, error) {
	store, err := c.openState(cmd.Context(), path)
	if err != nil {
		return nil, err
	}
	return store.Load()
}

func notInState(addr string) error {
	return fmt.Errorf("%s is not in the state (see `b24perm state list`)", addr)
}

// takeLock locks the state for operation, waiting up to timeout for
// another holder (0: fail at once). The returned unlock warns on stderr
// when the lock could not be released as ours (force-unlocked meanwhile).
func (c *Command) takeLock(cmd *cobra.Command, store state.Store, operation string, timeout time.Duration) (func() error, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	unlock, err := store.Lock(ctx, state.Identity(operation, c.streams.Getenv("USER"), ToolVersion()))
	if err != nil {
		return nil, err
	}
	return func() error {
		err := unlock()
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %v\n", err)
		}
		return err
	}, nil
}
