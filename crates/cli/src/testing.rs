//! For the commands' tests: a group's arguments parsed without the rest of the CLI around them.

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
struct WithArgs<A: Args> {
    #[command(flatten)]
    args: A,
}

#[derive(Parser)]
struct WithCommand<C: Subcommand> {
    #[command(subcommand)]
    command: C,
}

/// `args` as the flags of one command.
pub fn parse_args<A: Args>(args: &[&str]) -> A {
    let argv = std::iter::once("ha").chain(args.iter().copied());
    WithArgs::<A>::try_parse_from(argv).unwrap_or_else(|err| panic!("{args:?}: {err}")).args
}

/// `argv` (program name first) as the flags of one command, or clap's refusal.
pub fn try_parse_args<'a, A: Args>(argv: impl IntoIterator<Item = &'a str>) -> Result<A, clap::Error> {
    WithArgs::<A>::try_parse_from(argv).map(|parsed| parsed.args)
}

/// `args` as one of a group's subcommands, or clap's refusal.
pub fn try_parse_command<C: Subcommand>(args: &[&str]) -> Result<C, clap::Error> {
    WithCommand::<C>::try_parse_from(std::iter::once("ha").chain(args.iter().copied())).map(|parsed| parsed.command)
}

/// `args` as one of a group's subcommands.
pub fn parse_command<C: Subcommand>(args: &[&str]) -> C {
    try_parse_command(args).unwrap_or_else(|err| panic!("{args:?}: {err}"))
}
