#!/bin/sh
# The `ha` prompt: each line read is one `ha` command. `exit` ends the prompt; `login` ends it
# with status 10, which asks the caller for a shell on the host instead.
cat /etc/welcome.txt
while printf '\033[32mha > \033[0m' && read -r line; do
    case "$line" in
        "") ;;
        exit) exit 0 ;;
        login) exit 10 ;;
        *)
            # Word splitting is wanted: the line is the command's arguments.
            # shellcheck disable=SC2086
            ha $line
            echo
            ;;
    esac
done
