//! The command registry: every command the TUI knows is listed once here, with its name, what it does,
//! where it applies and its default keys. The keymap, the help overlay and the command palette are all
//! derived from this table; nothing is listed twice by hand.

/// Where a command applies. A key is looked up in the scope that has focus first, then in `Global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Anywhere (unless the focused scope binds the same key).
    Global,
    /// The sidebar has focus.
    Sidebar,
    /// A doc in view mode.
    Doc,
    /// Text is being edited: unbound plain keys are typed.
    Editor,
    /// The comments panel of a doc.
    Comments,
    /// A board.
    Board,
    /// An open card.
    Card,
    /// The trash screen.
    Trash,
    /// A doc's history.
    History,
    /// The members screen.
    Members,
}

impl Scope {
    /// Every scope, in the order the help overlay lists them.
    pub const ALL: &'static [Scope] = &[
        Scope::Global,
        Scope::Sidebar,
        Scope::Doc,
        Scope::Editor,
        Scope::Comments,
        Scope::Board,
        Scope::Card,
        Scope::Trash,
        Scope::History,
        Scope::Members,
    ];

    /// Heading in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Sidebar => "Sidebar",
            Scope::Doc => "Document",
            Scope::Editor => "Editing text",
            Scope::Comments => "Comments panel",
            Scope::Board => "Board",
            Scope::Card => "Card",
            Scope::Trash => "Trash",
            Scope::History => "History",
            Scope::Members => "Members",
        }
    }
}

/// One registered command.
#[derive(Debug)]
pub struct CommandSpec {
    /// What runs.
    pub command: Command,
    /// Where its keys apply.
    pub scope: Scope,
    /// Stable name, used in the palette and in `keys.toml`.
    pub name: &'static str,
    /// Default keys, in the notation of `keys.toml` (`ctrl-p`, `shift-left`, `?`).
    pub keys: &'static [&'static str],
    /// What it does, for help and the palette.
    pub description: &'static str,
}

macro_rules! commands {
    ($( $variant:ident $scope:ident $name:literal [$($key:literal),*] $desc:literal; )*) => {
        /// Everything a key, the palette or a test can ask the app to do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Command { $(#[doc = $desc] $variant),* }

        /// The registry, in the order help and the palette show it.
        pub static COMMANDS: &[CommandSpec] = &[
            $(CommandSpec {
                command: Command::$variant,
                scope: Scope::$scope,
                name: $name,
                keys: &[$($key),*],
                description: $desc,
            }),*
        ];
    };
}

commands! {
    Quit Global "app.quit" ["q", "ctrl-q"] "Quit weft (changes are already saved)";
    Help Global "app.help" ["?", "f1"] "Show all keys";
    Palette Global "app.palette" [":", "ctrl-p"] "Run any command by name";
    Search Global "app.search" ["/", "ctrl-f"] "Search titles, text and comments";
    FocusNext Global "app.focus" ["tab"] "Move focus between the sidebar and the main pane";
    Back Global "app.back" ["esc"] "Go back, close the panel or leave the pane";
    OpenTrash Global "app.trash" ["T"] "Open the trash";
    Pair Global "app.pair" ["P"] "Pair this device with a wallet (paste its signature)";
    OpenMembers Global "app.members" ["M"] "Members, their devices, and what was refused";
    Suspend Global "app.suspend" ["ctrl-z"] "Suspend to the shell (resume with fg)";
    Redraw Global "app.redraw" ["ctrl-l"] "Redraw the whole screen";
    Messages Global "app.messages" ["ctrl-g"] "Every message of this session, whole (:messages)";
    SetName Global "app.name" [] "Set your display name (teammates see it, not your address)";

    SidebarDown Sidebar "sidebar.down" ["j", "down"] "Select the next entry";
    SidebarUp Sidebar "sidebar.up" ["k", "up"] "Select the previous entry";
    SidebarOpen Sidebar "sidebar.open" ["enter", "l", "right"] "Open the selected doc, board or trash";
    NewDoc Sidebar "sidebar.new-doc" ["n"] "Create a doc at the top level";
    NewSubpage Sidebar "sidebar.new-subpage" ["N"] "Create a page under the selected doc";
    NewBoard Sidebar "sidebar.new-board" ["b"] "Create a board";
    RenameItem Sidebar "sidebar.rename" ["r"] "Rename the selected doc or board";
    TrashItem Sidebar "sidebar.trash" ["d"] "Move the selected doc or board to the trash";

    DocEdit Doc "doc.edit" ["i", "e", "enter"] "Edit the text";
    DocDown Doc "doc.down" ["j", "down"] "Next line";
    DocUp Doc "doc.up" ["k", "up"] "Previous line";
    DocPageDown Doc "doc.page-down" ["pagedown", "ctrl-d", "space"] "Scroll down a page";
    DocPageUp Doc "doc.page-up" ["pageup", "ctrl-u"] "Scroll up a page";
    DocTop Doc "doc.top" ["g", "home"] "Go to the start";
    DocBottom Doc "doc.bottom" ["G", "end"] "Go to the end";
    DocComments Doc "doc.comments" ["c"] "Show or hide the comment threads";
    DocAddComment Doc "doc.comment" ["a"] "Comment on the caret's position";
    DocHistory Doc "doc.history" ["H"] "Browse earlier versions";
    DocCopy Doc "doc.copy" ["y"] "Copy the doc's text to the clipboard (OSC 52)";
    DocRename Doc "doc.rename" ["r"] "Rename the doc";
    DocUndo Doc "doc.undo" ["u"] "Undo your last change";
    DocRedo Doc "doc.redo" ["ctrl-r"] "Redo";
    DocSaveAttachment Doc "doc.save-attachment" ["A"] "Save an attached file into the current folder";

    EditorLeave Editor "editor.leave" ["esc"] "Stop editing (text is saved as you type)";
    EditorUndo Editor "editor.undo" ["alt-u"] "Undo your last change";
    EditorRedo Editor "editor.redo" ["alt-e", "ctrl-y"] "Redo";
    EditorDeleteWord Editor "editor.delete-word" ["ctrl-w", "alt-backspace"] "Delete the word before the caret";
    EditorDeleteWordForward Editor "editor.delete-next-word" ["alt-d", "ctrl-delete"] "Delete the word after the caret";
    EditorKillLine Editor "editor.kill-line" ["ctrl-k"] "Delete to the end of the line";
    EditorKillToStart Editor "editor.kill-to-start" ["ctrl-u"] "Delete to the start of the line";
    EditorComment Editor "editor.comment" ["alt-c"] "Comment on the caret's position";

    CommentsDown Comments "comments.down" ["j", "down"] "Next comment";
    CommentsUp Comments "comments.up" ["k", "up"] "Previous comment";
    CommentsJump Comments "comments.jump" ["enter"] "Put the caret at the comment's anchor";
    CommentsReply Comments "comments.reply" ["r"] "Reply to the selected comment";
    CommentsResolve Comments "comments.resolve" ["x"] "Resolve or reopen the selected thread";
    CommentsNew Comments "comments.new" ["a"] "Comment on the caret's position";

    BoardLeft Board "board.left" ["h", "left"] "Select the column to the left";
    BoardRight Board "board.right" ["l", "right"] "Select the column to the right";
    BoardDown Board "board.down" ["j", "down"] "Select the next card";
    BoardUp Board "board.up" ["k", "up"] "Select the previous card";
    BoardMoveLeft Board "board.move-card-left" ["H", "shift-left"] "Move the card to the column on the left";
    BoardMoveRight Board "board.move-card-right" ["L", "shift-right"] "Move the card to the column on the right";
    BoardMoveDown Board "board.move-card-down" ["J", "shift-down"] "Move the card down";
    BoardMoveUp Board "board.move-card-up" ["K", "shift-up"] "Move the card up";
    BoardOpenCard Board "board.open-card" ["enter"] "Open the card";
    BoardNewCard Board "board.new-card" ["n"] "Add a card to this column";
    BoardRenameCard Board "board.rename-card" ["r"] "Rename the card";
    BoardTrashCard Board "board.trash-card" ["d"] "Move the card to the trash";
    BoardNewColumn Board "board.new-column" ["C"] "Add a column";
    BoardRenameColumn Board "board.rename-column" ["R"] "Rename the column";
    BoardTrashColumn Board "board.trash-column" ["D"] "Move the column to the trash";
    BoardSetWip Board "board.wip-limit" ["w"] "Set the column's WIP limit";
    BoardColumnLeft Board "board.column-left" ["<"] "Move the column left";
    BoardColumnRight Board "board.column-right" [">"] "Move the column right";
    BoardCopyLink Board "board.copy-link" ["y"] "Copy a link to the card (OSC 52)";

    CardEdit Card "card.edit" ["e", "i"] "Edit the description";
    CardTitle Card "card.title" ["t"] "Change the title";
    CardLabels Card "card.labels" ["l"] "Change the labels";
    CardAssignees Card "card.assignees" ["a"] "Change the assignees";
    CardDue Card "card.due" ["D"] "Set or clear the due date";
    CardComment Card "card.comment" ["c"] "Comment on the card";
    CardReply Card "card.reply" ["r"] "Reply to the selected comment";
    CardResolve Card "card.resolve" ["x"] "Resolve or reopen the selected thread";
    CardDown Card "card.down" ["j", "down"] "Next comment";
    CardUp Card "card.up" ["k", "up"] "Previous comment";
    CardCopyLink Card "card.copy-link" ["y"] "Copy a link to the card (OSC 52)";
    CardSaveAttachment Card "card.save-attachment" ["A"] "Save an attached file into the current folder";

    TrashDown Trash "trash.down" ["j", "down"] "Next item";
    TrashUp Trash "trash.up" ["k", "up"] "Previous item";
    TrashRestore Trash "trash.restore" ["r", "enter"] "Take the item out of the trash";
    TrashPurge Trash "trash.purge" ["p"] "Delete the item for good (asks first)";

    MembersDown Members "members.down" ["j", "down"] "Next member";
    MembersUp Members "members.up" ["k", "up"] "Previous member";
    MembersAdd Members "members.add" ["a"] "Give a wallet address a role";
    MembersRole Members "members.role" ["r"] "Change the selected member's role";
    MembersRemove Members "members.remove" ["d"] "Remove the selected member (asks first)";
    MembersName Members "members.name" ["n"] "Set your display name (teammates see it, not your address)";
    MembersAddresses Members "members.addresses" ["."] "Show or hide full addresses";

    HistoryDown History "history.down" ["j", "down"] "Older version";
    HistoryUp History "history.up" ["k", "up"] "Newer version";
    HistoryRestore History "history.restore" ["r", "enter"] "Restore this version as a new change (asks first)";
}

/// The registry entry of a command.
pub fn spec(command: Command) -> &'static CommandSpec {
    COMMANDS
        .iter()
        .find(|s| s.command == command)
        .unwrap_or(&COMMANDS[0])
}

/// A command by its registered name.
pub fn by_name(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_scoped() {
        let mut seen = HashSet::new();
        for c in COMMANDS {
            assert!(seen.insert(c.name), "duplicate {}", c.name);
            assert!(!c.description.is_empty());
            assert_eq!(spec(c.command).name, c.name);
        }
    }

    #[test]
    fn lookup_by_name() {
        assert_eq!(
            by_name("board.move-card-right").map(|s| s.command),
            Some(Command::BoardMoveRight)
        );
        assert!(by_name("board.nope").is_none());
    }
}
