//! The command line: clap definitions and the headless subcommands. Every read command takes `--json`.

mod attach;
mod browser;
mod context;
mod doctor;
mod identity;
pub mod items;
pub mod members;
mod prompt;
pub mod relay;
pub(crate) mod share;
mod transfer;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

pub use context::Context;

/// This weft's version, with the commit it was built from when built from a git checkout.
pub const VERSION: &str = env!("WEFT_VERSION");

/// weft — docs, boards and comments for a team, in the terminal, local-first.
#[derive(Debug, Parser)]
#[command(name = "weft", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// Workspace to use (default: from config, or the only one).
    #[arg(short = 'w', long, global = true, env = "WEFT_WORKSPACE")]
    pub workspace: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Theme of the terminal UI: dark, light, high-contrast, ansi16, or a theme in the config dir.
    #[arg(long, global = true, value_name = "NAME", env = "WEFT_THEME")]
    pub theme: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace.
    Init {
        name: String,
        /// Add a welcome doc and a sample board.
        #[arg(long)]
        sample: bool,
        /// Protect this home with a passphrase (asked now, or $WEFT_PASSPHRASE), not the keyring or a
        /// key file. Only when the home is new.
        #[arg(long)]
        passphrase: bool,
        /// Where the workspace is shared: file:///path, s3://bucket/prefix, gs://…, az://…
        /// (default: a folder in the data dir).
        #[arg(long, value_name = "URL")]
        bucket: Option<String>,
        /// A relay that carries changes live between members (ws://host:port or wss://…).
        #[arg(long, value_name = "URL")]
        relay: Option<String>,
    },
    /// Show the workspace: docs tree and boards.
    Ls,
    /// List the workspaces in this home.
    Workspaces,
    /// Documents.
    #[command(subcommand)]
    Doc(DocCmd),
    /// Boards and their columns.
    #[command(subcommand)]
    Board(BoardCmd),
    /// Cards on boards.
    #[command(subcommand)]
    Card(CardCmd),
    /// Comments on docs and cards.
    #[command(subcommand)]
    Comment(CommentCmd),
    /// The trash: list, restore, purge.
    #[command(subcommand)]
    Trash(TrashCmd),
    /// Attach a file to a doc or card: it is encrypted and uploaded to the workspace's bucket.
    Attach {
        /// The file to attach.
        file: PathBuf,
        /// The doc or card (title or id).
        #[arg(long, value_name = "ITEM")]
        to: String,
    },
    /// List the files attached to a doc or card.
    Attachments {
        /// The doc or card (title or id).
        item: String,
        /// Include removed attachments.
        #[arg(long)]
        removed: bool,
    },
    /// Save, remove or restore a file attached to a doc or card.
    #[command(subcommand)]
    Attachment(AttachmentCmd),
    /// Full-text search over titles, bodies and comments.
    Search {
        query: Vec<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Write the workspace to a folder (JSON for tools, Markdown for people).
    Export(ExportArgs),
    /// Add a weft JSON export, or a folder of Markdown files, to the workspace.
    Import { dir: PathBuf },
    /// Paths, versions and store health.
    Doctor,
    /// weft's own wallet: create, import, show, sign messages (EIP-191).
    #[command(subcommand)]
    Wallet(WalletCmd),
    /// Pair this device with a wallet by signing a Sign-In-with-Ethereum message.
    Pair(PairArgs),
    /// The wallets this device is paired with.
    Devices,
    /// Protect this home with a passphrase, change it, or go back to the keyring / key file.
    #[command(subcommand)]
    Passphrase(PassphraseCmd),
    /// Who may do what in this workspace: list, add, change role, remove.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Your display name in this workspace: teammates see it instead of your address.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Changes and membership ops that were refused, with the reason.
    #[command(subcommand)]
    Quarantine(QuarantineCmd),
    /// Exchange changes with the workspace's bucket.
    Sync {
        /// Keep syncing until interrupted.
        #[arg(long, conflicts_with = "once")]
        watch: bool,
        /// One round, then exit (the default).
        #[arg(long)]
        once: bool,
        /// Seconds between rounds with --watch.
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
        /// Use (and remember) this bucket URL on this device only (an admin moves the
        /// workspace for everyone with `weft settings bucket URL`).
        #[arg(long, value_name = "URL")]
        bucket: Option<String>,
        /// Use (and remember) this relay URL on this device only; with --watch, changes also
        /// travel live.
        #[arg(long, value_name = "URL")]
        relay: Option<String>,
        /// Follow the workspace to the bucket an admin moved it to, though it is at another
        /// endpoint or provider (this device's credentials for that kind of store go there).
        #[arg(long)]
        accept_move: bool,
        /// With --watch, sync directly with teammates on the same network (the default,
        /// unless `lan = false` in config.toml).
        #[arg(long, conflicts_with = "no_lan")]
        lan: bool,
        /// With --watch, do not look for teammates on the network.
        #[arg(long)]
        no_lan: bool,
    },
    /// The workspace's bucket and relay; admins change them for every member.
    Settings {
        #[command(subcommand)]
        set: Option<SettingsCmd>,
    },
    /// Write a snapshot of the whole workspace to the bucket, so new devices start from it
    /// instead of reading every change (admins and the owner; `weft sync` also writes one
    /// by itself every 10,000 changes).
    Snapshot,
    /// Give a wallet address a role and print the code they join with.
    Invite {
        address: String,
        #[arg(long, default_value = "editor")]
        role: String,
    },
    /// Run the WebSocket relay that carries live changes between devices, or check one.
    Relay(relay::RelayArgs),
    /// Join a shared workspace with the code a member gave you.
    Join {
        code: String,
        /// Local name for the workspace (default: its name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), e.g. `weft man > ~/.local/share/man/man1/weft.1`.
    Man,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// Move the workspace to another bucket: this device copies what it holds there, and
    /// every member's device follows at its next sync.
    Bucket { url: String },
    /// Set the relay every member's device uses for live changes (`none` for bucket only).
    Relay { url: String },
}

#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// Members, their roles and devices.
    Ls,
    /// Give a wallet address a role (owner > admin > editor > commenter > viewer).
    Add {
        address: String,
        #[arg(long)]
        role: String,
    },
    /// Change a member's role.
    Role { address: String, role: String },
    /// Remove a member.
    Rm { address: String },
}

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Your address and display name.
    Show,
    /// Set your display name (one line, at most 40 characters), or remove it with --clear.
    Name {
        #[arg(required_unless_present = "clear", allow_hyphen_values = true)]
        name: Option<String>,
        /// Remove your display name (teammates see your address again).
        #[arg(long, conflicts_with = "name")]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCmd {
    /// What was refused, from whom, and why.
    Ls,
}

#[derive(Debug, Subcommand)]
pub enum PassphraseCmd {
    /// Start asking for a passphrase (replaces the keyring entry or key file).
    Set,
    /// Change the passphrase.
    Change,
    /// Stop asking: keep the key in the OS keyring, or a 0600 key file.
    Remove,
}

#[derive(Debug, Subcommand)]
pub enum WalletCmd {
    /// Create a local wallet (never replaces an existing one).
    New,
    /// Import a private key (hex) from standard input as the local wallet.
    Import,
    /// Show the local wallet's address.
    Show,
    /// Sign a message with the local wallet (EIP-191 personal_sign); prints the signature.
    Sign {
        message: Option<String>,
        /// Sign standard input, byte for byte.
        #[arg(long)]
        stdin: bool,
    },
}

#[derive(Debug, Args)]
pub struct PairArgs {
    /// The wallet address that will sign (0x…).
    #[arg(long, conflicts_with = "local")]
    pub address: Option<String>,
    /// Print only the exact message to sign, for piping into a signer.
    #[arg(long, conflicts_with_all = ["signature", "browser"])]
    pub print_message: bool,
    /// The wallet's signature of the pending message (0x…, 65 bytes).
    #[arg(long, conflicts_with = "browser")]
    pub signature: Option<String>,
    /// Pair with weft's own local wallet (created if needed).
    #[arg(long)]
    pub local: bool,
    /// Serve a one-time page on 127.0.0.1 that asks a browser wallet (MetaMask…) to sign.
    #[arg(long)]
    pub browser: bool,
    /// Port for --browser (default: any free port).
    #[arg(long, requires = "browser")]
    pub port: Option<u16>,
}

/// `weft export --json DIR` or `weft export --markdown DIR` (`--json` is the global flag: JSON is
/// also the default format).
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write Markdown for people: one file per doc and card, comments alongside.
    #[arg(long)]
    pub markdown: bool,
    /// Folder to create (must not exist, or be empty).
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DocCmd {
    /// Create a doc.
    New {
        title: String,
        /// Put it under this doc.
        #[arg(long)]
        parent: Option<String>,
        /// Initial body (Markdown).
        #[arg(long, conflicts_with = "stdin", allow_hyphen_values = true)]
        body: Option<String>,
        /// Read the body from standard input.
        #[arg(long)]
        stdin: bool,
    },
    /// List docs as a tree.
    Ls,
    /// Print a doc's body.
    Cat { doc: String },
    /// Change a doc's title or body (with no option: open $EDITOR).
    Edit {
        doc: String,
        #[arg(long)]
        title: Option<String>,
        /// Replace the body.
        #[arg(long, conflicts_with_all = ["stdin", "append"], allow_hyphen_values = true)]
        body: Option<String>,
        /// Add text at the end of the body.
        #[arg(long, conflicts_with = "stdin", allow_hyphen_values = true)]
        append: Option<String>,
        /// Replace the body with standard input.
        #[arg(long)]
        stdin: bool,
    },
    /// Move a doc under another doc, or to the top level.
    Mv {
        doc: String,
        /// New parent doc.
        #[arg(long, conflicts_with = "root")]
        parent: Option<String>,
        /// Move to the top level.
        #[arg(long)]
        root: bool,
        /// Position among the new siblings (0 = first).
        #[arg(long)]
        index: Option<usize>,
    },
    /// Move a doc to the trash.
    Rm { doc: String },
}

#[derive(Debug, Subcommand)]
pub enum BoardCmd {
    /// Create a board.
    New {
        name: String,
        /// Columns, comma-separated.
        #[arg(long, default_value = "To do,Doing,Done")]
        columns: String,
    },
    /// List boards, or show one board's columns and cards.
    Ls { board: Option<String> },
    /// Add a column to a board.
    Column {
        board: String,
        name: String,
        #[arg(long)]
        wip: Option<u32>,
    },
    /// Move a board to the trash.
    Rm { board: String },
}

#[derive(Debug, Args)]
pub struct CardFieldArgs {
    /// Label (repeat for several).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Assignee: a member's address or display name (repeat for several).
    #[arg(long = "assignee", visible_alias = "assign")]
    pub assignees: Vec<String>,
    /// Due date, YYYY-MM-DD.
    #[arg(long)]
    pub due: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CardCmd {
    /// Add a card to a board (first column unless --column).
    Add {
        board: String,
        title: String,
        #[arg(long)]
        column: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        description: Option<String>,
        #[command(flatten)]
        fields: CardFieldArgs,
    },
    /// Show a card.
    Show { card: String },
    /// Move a card to a column (of its board, or BOARD/COLUMN).
    Mv {
        card: String,
        column: String,
        /// Position in the column (0 = top).
        #[arg(long)]
        index: Option<usize>,
    },
    /// Change a card's fields.
    Edit {
        card: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        description: Option<String>,
        /// Replace labels with these (repeat --label).
        #[arg(long = "label")]
        labels: Option<Vec<String>>,
        /// Replace assignees with these members, by address or display name (repeat
        /// --assignee).
        #[arg(long = "assignee", visible_alias = "assign")]
        assignees: Option<Vec<String>>,
        /// Due date, YYYY-MM-DD ("" clears it).
        #[arg(long)]
        due: Option<String>,
    },
    /// Move a card to the trash.
    Rm { card: String },
}

#[derive(Debug, Subcommand)]
pub enum CommentCmd {
    /// Comment on a doc or card.
    Add {
        target: String,
        #[arg(allow_hyphen_values = true)]
        text: String,
        /// Anchor at this character position of the text.
        #[arg(long, conflicts_with = "quote")]
        at: Option<usize>,
        /// Anchor at the first occurrence of this text.
        #[arg(long)]
        quote: Option<String>,
        /// Reply to this comment.
        #[arg(long)]
        reply_to: Option<String>,
    },
    /// List comments on a doc or card (all, with none given; detached ones included).
    Ls { target: Option<String> },
    /// Resolve a thread (or reopen it).
    Resolve {
        id: String,
        #[arg(long)]
        reopen: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AttachmentCmd {
    /// Fetch an attached file (from this device's cache, else the bucket) and save it.
    Save {
        /// The doc or card (title or id).
        item: String,
        /// The attachment's name or id.
        name: String,
        /// Where to save it: a file, or a folder to save it in (default: the current folder, under
        /// the attachment's name).
        #[arg(long, short = 'o', value_name = "PATH")]
        out: Option<PathBuf>,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Take a file off a doc or card (it can be restored).
    Rm {
        /// The doc or card (title or id).
        item: String,
        /// The attachment's name or id.
        name: String,
    },
    /// Put a removed attachment back.
    Restore {
        /// The doc or card (title or id).
        item: String,
        /// The removed attachment's name or id.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrashCmd {
    /// What is in the trash.
    Ls,
    /// Take an item out of the trash.
    Restore { item: String },
    /// Delete a trashed item for good.
    Purge { item: String },
}

/// Write generated text to standard output; a reader that stops early (`| head`) is not an error.
fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Run one command line. Errors carry the context a person needs.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // These need no home, workspace or keys.
    match &cli.command {
        Some(Command::Relay(args)) => return relay::run(args, cli.json),
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "weft", &mut script);
            return print_bytes(&script);
        }
        Some(Command::Man) => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            return print_bytes(&page);
        }
        _ => {}
    }
    let mut ctx = Context::new(cli.workspace.clone(), cli.json)?;
    match cli.command {
        None => context::first_run(&ctx, cli.theme.as_deref()),
        Some(Command::Init {
            name,
            sample,
            passphrase,
            bucket,
            relay,
        }) => {
            if passphrase {
                context::request_passphrase(&mut ctx)?;
            }
            context::init(&ctx, &name, sample, bucket.as_deref(), relay.as_deref())
        }
        Some(Command::Sync {
            watch,
            interval,
            bucket,
            relay,
            accept_move,
            lan,
            no_lan,
            ..
        }) => {
            if !(interval.is_finite() && interval > 0.0) {
                anyhow::bail!("--interval must be a positive number of seconds");
            }
            share::sync(
                &ctx,
                bucket,
                relay,
                accept_move,
                watch,
                std::time::Duration::from_secs_f64(interval.min(86_400.0)),
                (lan || no_lan).then_some(lan),
            )
        }
        Some(Command::Snapshot) => share::snapshot(&ctx),
        Some(Command::Settings { set }) => share::settings(&ctx, set),
        Some(Command::Invite { address, role }) => share::invite(&ctx, &address, &role),
        Some(Command::Join { code, name }) => share::join(&ctx, &code, name),
        Some(Command::Passphrase(c)) => context::passphrase(&ctx, c),
        Some(Command::Workspaces) => context::list_workspaces(&ctx),
        Some(Command::Doctor) => doctor::run(&ctx),
        Some(Command::Export(args)) => transfer::export(&ctx, args),
        Some(Command::Import { dir }) => transfer::import(&ctx, &dir),
        Some(Command::Wallet(c)) => identity::wallet(&ctx, c),
        Some(Command::Pair(args)) => identity::pair(&ctx, args),
        Some(Command::Devices) => identity::devices(&ctx),
        Some(Command::Member(c)) => members::member(&ctx, c),
        Some(Command::Attach { file, to }) => attach::attach(&ctx, &file, &to),
        Some(Command::Attachments { item, removed }) => attach::list(&ctx, &item, removed),
        Some(Command::Attachment(c)) => attach::attachment(&ctx, c),
        Some(Command::Quarantine(c)) => members::quarantine(&ctx, c),
        Some(Command::Profile(c)) => members::profile(&ctx, c),
        Some(cmd) => items::run(&ctx, cmd),
    }
}
