package cli

import (
	"encoding/json"
	"fmt"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"
	"github.com/b24perm/b24perm/schema"
	"github.com/spf13/cobra"
)

func newSchemaCmd(c *Command) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the embedded policy schema (CUE, or JSON Schema for editors)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "cue":
				_, err := fmt.Fprint(cmd.OutOrStdout(), schema.Source)
				return err
			case "jsonschema":
				b, err := jsonSchema()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return fmt.Errorf("--format must be cue or jsonschema, not %q", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "cue", "cue or jsonschema")
	return cmd
}

// jsonSchema exports #Policy as JSON Schema (draft 2020-12).
func jsonSchema() ([]byte, error) {
	ctx := cuecontext.New()
	v := ctx.CompileString(schema.Source, cue.Filename(schema.Filename))
	expr, err := jsonschema.Generate(v.LookupPath(cue.ParsePath("#Policy")), nil)
	if err != nil {
		return nil, fmt.Errorf("generating JSON Schema: %w", err)
	}
	js := ctx.BuildExpr(expr)
	if err := js.Err(); err != nil {
		return nil, err
	}
	var m any
	raw, err := js.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if obj, ok := m.(map[string]any); ok {
		obj["title"] = "b24perm policy"
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
