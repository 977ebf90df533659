// Command b24perm manages Bitrix24 access permissions as code.
package main

import (
	"os"

	"github.com/b24perm/b24perm/internal/cli"
)

func main() { os.Exit(cli.Main()) }
