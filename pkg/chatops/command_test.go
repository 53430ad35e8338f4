package chatops

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	create := func(opts map[string]string) Command {
		return Command{Verb: VerbCreate, Cluster: "eck-demo0001", Name: "pool-a", Options: opts}
	}
	tests := []struct {
		name    string
		text    string
		want    Command
		wantErr string
	}{
		{"slack slash command", "/nodepool create eck-demo0001 pool-a preset=small size=3", create(map[string]string{"preset": "small", "size": "3"}), ""},
		{"slack text only", "create eck-demo0001 pool-a size=3", create(map[string]string{"size": "3"}), ""},
		{"dingtalk leading space", " nodepool create eck-demo0001 pool-a preset=small", create(map[string]string{"preset": "small"}), ""},
		{"feishu mention", "@_user_1 nodepool create eck-demo0001 pool-a preset=small", create(map[string]string{"preset": "small"}), ""},
		{"dingtalk named mention", "@nodepool-bot nodepool create eck-demo0001 pool-a", create(nil), ""},
		{"slack escaped mention first", "<@U024BE7LH> create eck-demo0001 pool-a", create(nil), ""},
		{"slack mentions anywhere", "create eck-demo0001 <@U024BE7LH|bob> pool-a<!here> charge=PostPaid @ops", create(map[string]string{"charge": "PostPaid"}), ""},
		{"mention glued to the verb", "<@U024BE7LH>create eck-demo0001 pool-a", create(nil), ""},
		{"case and spaces", "  NodePool   CREATE\teck-demo0001 \u3000 pool-a   SIZE=3  Preset=small\n", create(map[string]string{"size": "3", "preset": "small"}), ""},
		{"options anywhere", "nodepool create size=3 eck-demo0001 type=ens.sn1.small,ens.sn1.large pool-a", create(map[string]string{"size": "3", "type": "ens.sn1.small,ens.sn1.large"}), ""},
		{"aliases and dashes", "nodepool create eck-demo0001 pool-a --vswitch=vsw-a InstanceType=ens.sn1.small count=2 disksize=40 image=m-abc keypair=kp", create(map[string]string{"vsw": "vsw-a", "type": "ens.sn1.small", "size": "2", "disk": "40", "image": "m-abc", "keypair": "kp"}), ""},
		{"dry run", "nodepool create eck-demo0001 pool-a dry-run size=3", Command{Verb: VerbCreate, Cluster: "eck-demo0001", Name: "pool-a",
			Options: map[string]string{"size": "3"}, DryRun: true}, ""},
		{"dry run spellings", "nodepool create --Dry-Run eck-demo0001 pool-a DRYRUN", Command{Verb: VerbCreate, Cluster: "eck-demo0001", Name: "pool-a", DryRun: true}, ""},
		{"status takes no dry run", "nodepool status eck-demo0001 pool-a dry-run", Command{}, "status takes no dry-run"},
		{"status", "nodepool status eck-demo0001 pool-a", Command{Verb: VerbStatus, Cluster: "eck-demo0001", Name: "pool-a"}, ""},
		{"status alias", "/nodepool GET eck-demo0001 pool-a", Command{Verb: VerbStatus, Cluster: "eck-demo0001", Name: "pool-a"}, ""},
		{"help", "nodepool help", Command{Verb: VerbHelp}, ""},
		{"help question", "/nodepool ?", Command{Verb: VerbHelp}, ""},
		{"empty is help", "   ", Command{Verb: VerbHelp}, ""},
		{"bare nodepool is help", "/nodepool", Command{Verb: VerbHelp}, ""},
		{"unknown verb", "nodepool delete eck-demo0001 pool-a", Command{}, "unknown command `delete`"},
		{"missing name", "nodepool create eck-demo0001", Command{}, "needs a cluster id and a node pool name"},
		{"extra positional", "nodepool create eck-demo0001 pool-a small", Command{}, "unexpected `small`"},
		{"unknown option", "nodepool create eck-demo0001 pool-a color=red", Command{}, "unknown option `color`"},
		{"empty value", "nodepool create eck-demo0001 pool-a size=", Command{}, "needs a value"},
		{"duplicate option", "nodepool create eck-demo0001 pool-a size=1 count=2", Command{}, "given twice"},
		{"status with options", "nodepool status eck-demo0001 pool-a size=1", Command{}, "takes no options"},
		{"status echoes no option value", "nodepool status eck-demo0001 pool-a password=Zq8-typed-pw", Command{}, "(`password`=…)"},
		{"too long", "nodepool help " + strings.Repeat("x", MaxCommand), Command{}, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCommand(tt.text)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrCommand) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCommand(%q) error = %v, want %q", tt.text, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tt.text, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseCommand(%q) = %+v, want %+v", tt.text, got, tt.want)
			}
		})
	}
}

// FuzzParseCommand: never panics; a success is well-formed, and its
// canonical rendering parses to the same command.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"/nodepool create eck-demo0001 pool-a preset=small size=3",
		"@_user_1 nodepool status eck-demo0001 pool-a",
		"nodepool help", "", "create a b =", "create a b ==x", "create a b x=1 x=2", "\u3000create\u200ba b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := ParseCommand(text)
		if err != nil {
			var ce *CommandError
			if !errors.As(err, &ce) || ce.Message == "" {
				t.Fatalf("error %v is not a *CommandError with text", err)
			}
			return
		}
		switch cmd.Verb {
		case VerbHelp:
			return
		case VerbCreate, VerbStatus:
		default:
			t.Fatalf("verb %q", cmd.Verb)
		}
		if cmd.Cluster == "" || cmd.Name == "" || strings.Contains(cmd.Cluster, "=") || strings.Contains(cmd.Name, "=") {
			t.Fatalf("positionals %q %q", cmd.Cluster, cmd.Name)
		}
		canon := "nodepool " + cmd.Verb + " " + cmd.Cluster + " " + cmd.Name
		for _, k := range optionNames() {
			if v, ok := cmd.Options[k]; ok {
				canon += " " + k + "=" + v
			}
		}
		again, err := ParseCommand(canon)
		if err != nil || !reflect.DeepEqual(again, cmd) {
			t.Fatalf("canonical %q parses to %+v, %v; want %+v", canon, again, err, cmd)
		}
	})
}
