//! Every conversation of the user through `update`: the list, going from
//! one to another, joining and leaving, direct conversations, whom to
//! ignore, read positions and notifications, and the history search.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use crate::{
    protocol::{Body, Event, JoinStatus, ReplyData, SearchHit, direct_id},
    tui::{
        action::{Effect, Osc, Purpose, RequestError},
        app::{App, Popup},
        event::AppEvent,
        fixtures::*,
        model::{
            conversation::Standing,
            timeline::{Below, ItemKind},
        },
        settings::{Notify, Settings},
        update::{conversations::MARK_READ_DELAY, screen::layout},
        view::widgets::inner,
    },
};

fn ids(app: &App) -> Vec<&str> {
    chat(app).convs().map(|conv| conv.id.as_str()).collect()
}

fn selected(app: &App) -> &str {
    chat(app).selected().expect("a conversation shown")
}

fn reply(purpose: Purpose, data: ReplyData) -> AppEvent {
    AppEvent::Reply {
        purpose,
        result: Ok(data),
    }
}

fn alt_key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::ALT))
}

fn submit(app: &mut App, line: &str) -> Vec<Effect> {
    type_text(app, line);
    update(app, key(KeyCode::Enter))
}

#[test]
fn the_list_holds_groups_then_direct_conversations_with_what_is_unread() {
    let app = chat_with_conversations();
    assert_eq!(
        ids(&app),
        ["go", "python", "rust", "alice+bob", "bob+carol"]
    );
    assert_eq!(selected(&app), "rust", "the group asked for opens");
    let go = chat(&app).conv("go").unwrap();
    assert_eq!((go.unread.count(), go.unread.mentions()), (3, 1));
    assert_eq!(
        chat(&app).conv("python").unwrap().standing,
        Standing::Pending
    );
    assert_eq!(chat(&app).conv("alice+bob").unwrap().label(), "@alice");
    assert_eq!(chat(&app).unread(), 5);
    assert_eq!(app.title(), "(5) pyconchat · #rust");
}

#[test]
fn without_a_group_asked_for_the_conversation_shown_last_opens() {
    let mut app = app("bob", "");
    let server = app.target.server.clone();
    app.session
        .record(&server, "bob", Some("bob+carol".into()), Default::default());
    feed(
        &mut app,
        [welcome_with(
            "bob",
            vec![conversation("rust"), conversation("bob+carol")],
        )],
    );
    assert_eq!(selected(&app), "bob+carol");
    // With none at all, the chat says how to join one.
    let mut app = fixtures_app_alone();
    let screen = format!("{}", render(&app, 80, 24).backend());
    assert!(
        screen.contains("You are in no conversation yet."),
        "{screen}"
    );
    assert_eq!(
        submit(&mut app, "/join rust"),
        [Effect::Request(Purpose::Join("rust".into()))]
    );
}

/// ann, in no conversation at all.
fn fixtures_app_alone() -> App {
    let mut app = app("ann", "");
    feed(&mut app, [welcome_with("ann", Vec::new())]);
    app
}

#[test]
fn keys_the_switcher_and_clicks_go_from_one_to_another() {
    let mut app = chat_with_conversations();
    update(&mut app, alt('1'));
    assert_eq!(selected(&app), "go");
    update(&mut app, alt_key(KeyCode::Down));
    assert_eq!(selected(&app), "python");
    update(&mut app, ctrl('p'));
    update(&mut app, ctrl('p'));
    assert_eq!(selected(&app), "bob+carol", "round the end");
    update(&mut app, ctrl('n'));
    assert_eq!(selected(&app), "go");
    assert!(update(&mut app, alt('9')).is_empty(), "nothing at 9");
    assert_eq!(selected(&app), "go");
    // The switcher: part of a name, Enter.
    update(&mut app, ctrl('g'));
    type_text(&mut app, "car");
    assert!(matches!(&app.popup, Some(Popup::Switcher(s)) if s.filter == "car"));
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(selected(&app), "bob+carol");
    assert_eq!(app.popup, None);
    // A click on a row of the pane.
    let pane = inner(layout(app.size, chat(&app)).conversations.unwrap());
    update(
        &mut app,
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: pane.x + 2,
            row: pane.y + 2,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(selected(&app), "rust");
}

#[test]
fn what_is_typed_stays_with_its_conversation() {
    let mut app = chat_with_conversations();
    type_text(&mut app, "half a thought");
    update(&mut app, alt('1'));
    assert_eq!(chat(&app).composer.value(), "");
    type_text(&mut app, "for go");
    update(&mut app, alt('3'));
    assert_eq!(chat(&app).composer.value(), "half a thought");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        [Effect::Request(Purpose::Send {
            id: 1,
            conv: "rust".into(),
            text: "half a thought".into()
        })]
    );
    update(&mut app, alt('1'));
    assert_eq!(chat(&app).composer.value(), "for go");
}

#[test]
fn reading_a_conversation_tells_the_server_once_a_moment_later() {
    let mut app = chat_with_conversations();
    let t0 = app.now;
    // News in go while bob is in rust: counted, a divider waits for it.
    update(&mut app, text_in("go", 5, "carol", "anyone?"));
    assert_eq!(chat(&app).conv("go").unwrap().unread.count(), 4);
    // bob goes to go: read at once here, told to the server a moment later.
    update(&mut app, alt('1'));
    assert_eq!(chat(&app).conv("go").unwrap().unread.count(), 0);
    assert!(
        chat(&app)
            .timeline()
            .items()
            .iter()
            .any(|i| matches!(i.kind, ItemKind::Divider(_))),
        "the divider marks where the news started"
    );
    assert_eq!(app.next_tick(), Some(t0 + MARK_READ_DELAY));
    assert!(update(&mut app, AppEvent::Tick).is_empty(), "not yet");
    app.now = t0 + MARK_READ_DELAY;
    assert_eq!(
        update(&mut app, AppEvent::Tick),
        [Effect::Request(Purpose::MarkRead {
            conv: "go".into(),
            seq: 5
        })]
    );
    assert_eq!(app.next_tick(), None, "idle: no timer");
    // Read elsewhere: the count here follows.
    update(&mut app, text_in("alice+bob", 3, "alice", "hi bob"));
    assert_eq!(chat(&app).conv("alice+bob").unwrap().unread.count(), 3);
    update(
        &mut app,
        server(Event::ReadUpTo {
            conv: "alice+bob".into(),
            seq: 3,
        }),
    );
    assert_eq!(chat(&app).conv("alice+bob").unwrap().unread.count(), 0);
    assert_eq!(app.next_tick(), None, "nothing to tell");
}

#[test]
fn quitting_tells_the_server_what_was_read_first() {
    let mut app = chat_with_conversations();
    update(&mut app, alt('1'));
    assert_eq!(
        shown(&app).unread.count(),
        3,
        "nothing shown yet, nothing read"
    );
    let page = (1..=4)
        .map(|seq| text_entry(seq, "carol", "go on"))
        .collect();
    update(&mut app, history_in("go", 5, page));
    assert_eq!(shown(&app).unread.count(), 0, "shown, read");
    assert_eq!(
        update(&mut app, ctrl('c')),
        [
            Effect::Quit,
            Effect::Request(Purpose::MarkRead {
                conv: "go".into(),
                seq: 4
            })
        ]
    );
}

#[test]
fn mentions_and_direct_messages_notify_where_the_user_is_not_looking() {
    let desktop = Settings {
        notify: Notify::Desktop(Osc::Osc777),
        ..SETTINGS.clone()
    };
    let mut app = chat_with_conversations();
    let run = |app: &mut App, event| crate::tui::update::update(app, &desktop, event);
    assert_eq!(
        run(&mut app, text_in("go", 5, "carol", "@bob review?")),
        [
            Effect::Bell,
            Effect::Notify {
                osc: Osc::Osc777,
                title: "#go".into(),
                body: "carol: @bob review?".into()
            }
        ]
    );
    assert!(
        matches!(&run(&mut app, text_in("alice+bob", 3, "alice", "psst"))[..], [Effect::Bell, Effect::Notify { title, .. }] if title == "@alice")
    );
    assert!(run(&mut app, text_in("go", 6, "carol", "no mention")).is_empty());
    // Where bob is, a mention rings and a direct message stays quiet.
    run(&mut app, alt('4'));
    assert!(run(&mut app, text_in("alice+bob", 4, "alice", "here?")).is_empty());
    assert_eq!(
        run(&mut app, text_in("alice+bob", 5, "alice", "@bob here?")),
        [Effect::Bell]
    );
    let off = Settings {
        notify: Notify::Off,
        ..SETTINGS.clone()
    };
    assert!(
        crate::tui::update::update(&mut app, &off, text_in("go", 7, "carol", "@bob")).is_empty()
    );
}

#[test]
fn join_opens_a_group_without_reconnecting() {
    let mut app = chat_with_conversations();
    assert_eq!(
        submit(&mut app, "/join go"),
        [Effect::Request(Purpose::History {
            conv: "go".into(),
            before: 5
        })],
        "already in it: shown, with what was said there"
    );
    assert_eq!(selected(&app), "go");
    assert_eq!(
        submit(&mut app, "/join #haskell"),
        [Effect::Request(Purpose::Join("haskell".into()))]
    );
    let created = conversation_in(
        "haskell",
        JoinStatus::Created,
        Some(snapshot("bob", &[("bob", true)], &[], 1)),
        0,
        0,
    );
    update(
        &mut app,
        reply(
            Purpose::Join("haskell".into()),
            ReplyData::Conversation {
                conversation: created,
            },
        ),
    );
    assert_eq!(selected(&app), "haskell");
    assert!(shown(&app).is_admin());
    assert!(matches!(last_kind(&app), ItemKind::Info(i) if i.starts_with("You created #haskell")));
    update(&mut app, entry_in("haskell", 1, "bob", Body::GroupCreated));
    assert_eq!(ids(&app)[1], "haskell");
    assert!(submit(&mut app, "/join not a group").is_empty());
    assert!(matches!(last_kind(&app), ItemKind::Error(_)));
}

#[test]
fn leave_says_what_it_means_and_asks_first() {
    let mut app = chat_with_conversations();
    // A member: asked, then left.
    submit(&mut app, "/leave");
    let Some(Popup::Confirm(confirm)) = &app.popup else {
        panic!("{:?}", app.popup)
    };
    assert_eq!(
        confirm.question,
        "Leave #rust? You can ask to join again later."
    );
    assert_eq!(
        update(&mut app, ch('y')),
        [Effect::Request(Purpose::Leave("rust".into()))]
    );
    // The server's word that it went may come before the answer: said once.
    update(
        &mut app,
        server(Event::ConversationRemoved {
            conv: "rust".into(),
        }),
    );
    update(
        &mut app,
        reply(Purpose::Leave("rust".into()), ReplyData::Done),
    );
    assert!(chat(&app).conv("rust").is_none());
    assert!(matches!(last_kind(&app), ItemKind::Info(i) if i == "you left #rust"));
    let said = chat(&app)
        .timeline()
        .items()
        .iter()
        .filter(|i| matches!(&i.kind, ItemKind::Info(i) if i.contains("#rust")))
        .count();
    assert_eq!(said, 1);
    // Pending: the request is withdrawn.
    submit(&mut app, "/leave python");
    assert!(
        matches!(&app.popup, Some(Popup::Confirm(c)) if c.question == "Withdraw your request to join #python?")
    );
    update(&mut app, key(KeyCode::Esc));
    // A direct conversation cannot be left.
    update(&mut app, alt('3'));
    assert_eq!(selected(&app), "alice+bob");
    submit(&mut app, "/leave");
    assert_eq!(app.popup, None);
    assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("/ignore alice")));

    // The admin: hand the role over first, or, alone, close the group.
    let mut app = chat_as_admin();
    submit(&mut app, "/leave");
    assert_eq!(app.popup, None);
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e.contains("hand the admin role to another member first (/changeAdmin NAME)"))
    );
    update(
        &mut app,
        entry(5, "alice", Body::MemberKicked { name: "bob".into() }),
    );
    submit(&mut app, "/leave");
    let Some(Popup::Confirm(confirm)) = &app.popup else {
        panic!("{:?}", app.popup)
    };
    assert!(
        confirm
            .question
            .starts_with("You are the last member of #rust: leaving closes it")
    );
    update(&mut app, ch('y'));
    update(
        &mut app,
        reply(Purpose::Leave("rust".into()), ReplyData::Done),
    );
    assert!(chat(&app).is_empty());
    assert!(matches!(last_kind(&app), ItemKind::Info(i) if i == "you closed #rust"));
}

#[test]
fn removed_a_conversation_stays_read_only_until_dropped() {
    let mut app = chat_with_conversations();
    update(&mut app, alt('1'));
    submit(&mut app, "to go");
    update(&mut app, alt('3'));
    update(
        &mut app,
        server(Event::Kicked {
            conv: "go".into(),
            by: "carol".into(),
        }),
    );
    let go = chat(&app).conv("go").unwrap();
    assert!(matches!(&go.standing, Standing::Removed { by: Some(by) } if by == "carol"));
    assert!(
        go.timeline
            .items()
            .iter()
            .any(|i| matches!(&i.kind, ItemKind::Error(e) if e.contains("\"to go\""))),
        "the message waiting for go is said not sent, there"
    );
    // rust goes on.
    assert!(matches!(
        &submit(&mut app, "still here")[..],
        [Effect::Request(Purpose::Send { conv, .. })] if conv == "rust"
    ));
    submit(&mut app, "/leave go");
    assert!(chat(&app).conv("go").is_none(), "dropped, nothing asked");
}

#[test]
fn direct_messages_open_and_go_to_anyone_sharing_a_group() {
    let mut app = chat_with_conversations();
    // To an open conversation: queued there, bob stays where he is.
    let effects = submit(&mut app, "/msg carol see you at 5");
    assert_eq!(
        effects,
        [Effect::Request(Purpose::Send {
            id: 1,
            conv: "bob+carol".into(),
            text: "see you at 5".into()
        })]
    );
    assert_eq!(selected(&app), "rust");
    assert!(matches!(last_kind(&app), ItemKind::Info(i) if i == "to @carol: see you at 5"));
    // To someone new: the conversation opens first.
    assert_eq!(
        submit(&mut app, "/msg dan hello"),
        [Effect::Request(Purpose::OpenDirect {
            name: "dan".into(),
            text: Some("hello".into())
        })]
    );
    let dan = conversation_in(
        &direct_id("bob", "dan"),
        JoinStatus::Direct,
        Some(snapshot("", &[("bob", true), ("dan", true)], &[], 1)),
        0,
        0,
    );
    update(
        &mut app,
        reply(
            Purpose::OpenDirect {
                name: "dan".into(),
                text: Some("hello".into()),
            },
            ReplyData::Conversation { conversation: dan },
        ),
    );
    assert_eq!(selected(&app), "rust");
    assert!(chat(&app).conv("bob+dan").is_some());
    // /query goes there.
    submit(&mut app, "/query dan");
    assert_eq!(selected(&app), "bob+dan");
    // Someone sharing no group: the server says so, with the text.
    update(
        &mut app,
        AppEvent::Reply {
            purpose: Purpose::OpenDirect {
                name: "eve".into(),
                text: Some("hi".into()),
            },
            result: Err(refused(
                "you can only message people who share a group with you",
            )),
        },
    );
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e.starts_with("not sent to eve") && e.ends_with("\"hi\""))
    );
    assert!(submit(&mut app, "/query bob").is_empty());
    assert!(
        matches!(last_kind(&app), ItemKind::Error(_)),
        "not with yourself"
    );
}

#[test]
fn ignoring_someone_takes_their_conversation_off_the_list() {
    let mut app = chat_with_conversations();
    assert_eq!(
        submit(&mut app, "/ignore alice"),
        [Effect::Request(Purpose::Ignore("alice".into()))]
    );
    update(
        &mut app,
        reply(Purpose::Ignore("alice".into()), ReplyData::Done),
    );
    assert!(chat(&app).conv("alice+bob").is_none());
    assert!(matches!(last_kind(&app), ItemKind::Info(i) if i.contains("they are not told")));
    assert_eq!(
        submit(&mut app, "/ignore"),
        [Effect::Request(Purpose::ListIgnored)]
    );
    update(
        &mut app,
        reply(
            Purpose::ListIgnored,
            ReplyData::Names {
                names: vec!["alice".into()],
            },
        ),
    );
    assert!(matches!(last_kind(&app), ItemKind::Info(i) if i == "you ignore: alice"));
    // Unignored, the server brings the conversation back.
    submit(&mut app, "/unignore alice");
    update(
        &mut app,
        reply(Purpose::Unignore("alice".into()), ReplyData::Done),
    );
    update(
        &mut app,
        server(Event::ConversationAdded {
            conversation: conversation("alice+bob"),
        }),
    );
    assert!(chat(&app).conv("alice+bob").is_some());
}

#[test]
fn a_conversation_someone_starts_joins_the_list_and_one_closed_leaves_it() {
    let mut app = chat_with_conversations();
    update(
        &mut app,
        server(Event::ConversationAdded {
            conversation: conversation("bob+erin"),
        }),
    );
    assert_eq!(ids(&app).last(), Some(&"bob+erin"));
    assert_eq!(selected(&app), "rust", "not shown by itself");
    update(&mut app, alt('1'));
    update(
        &mut app,
        server(Event::ConversationRemoved { conv: "go".into() }),
    );
    assert!(chat(&app).conv("go").is_none());
    assert_eq!(selected(&app), "python", "its neighbour is shown");
}

/// A match of a search, from alice.
fn hit(conv: &str, seq: u64, text: &str) -> SearchHit {
    SearchHit {
        conv: conv.into(),
        entry: text_entry(seq, "alice", text),
    }
}

#[test]
fn search_finds_across_conversations_and_goes_to_the_message() {
    let mut app = chat_with_conversations();
    update(&mut app, text_in("go", 1000, "carol", "the latest"));
    assert!(update(&mut app, ctrl('r')).is_empty());
    type_text(&mut app, "tokio");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        [Effect::Request(Purpose::Search("tokio".into()))]
    );
    let hits = vec![hit("rust", 3, "tokio here"), hit("go", 900, "tokio there")];
    update(
        &mut app,
        reply(
            Purpose::Search("tokio".into()),
            ReplyData::SearchHits { hits },
        ),
    );
    // A message already loaded: shown and marked.
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    assert_eq!(app.popup, None);
    assert_eq!(chat(&app).timeline().highlight(), Some(3));
    // One further back: loaded with the messages around it.
    update(&mut app, ctrl('r'));
    assert!(
        feed(
            &mut app,
            [ch('x'), key(KeyCode::Backspace), key(KeyCode::Enter)]
        )
        .is_empty(),
        "an empty query asks nothing"
    );
    assert_eq!(
        submit_search(&mut app, "tokio", vec![hit("go", 900, "tokio there")]),
        [Effect::Request(Purpose::Context {
            conv: "go".into(),
            seq: 900
        })]
    );
    assert_eq!(selected(&app), "go");
    let around: Vec<_> = (881..=910)
        .map(|seq| text_entry(seq, "carol", &format!("line {seq}")))
        .collect();
    update(
        &mut app,
        reply(
            Purpose::Context {
                conv: "go".into(),
                seq: 900,
            },
            ReplyData::History { entries: around },
        ),
    );
    let timeline = chat(&app).timeline();
    assert_eq!(timeline.highlight(), Some(900));
    assert_eq!(timeline.below(), Below::More, "newer messages not loaded");
    assert!(timeline.scroll().offset > 0, "the match in the middle");
    let screen = format!("{}", render(&app, 100, 30).backend());
    assert!(
        screen.contains("line 900") && screen.contains("newer messages"),
        "{screen}"
    );
    // End: back to the newest.
    assert_eq!(
        update(
            &mut app,
            AppEvent::Key(KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL))
        ),
        [Effect::Request(Purpose::History {
            conv: "go".into(),
            before: 1001
        })]
    );
    assert!(chat(&app).timeline().live());
}

/// Searches for `query` in the popup (opening it) and answers with `hits`;
/// returns what Enter on the first did.
fn submit_search(app: &mut App, query: &str, hits: Vec<SearchHit>) -> Vec<Effect> {
    if !matches!(app.popup, Some(Popup::Search(_))) {
        update(app, ctrl('r'));
    }
    type_text(app, query);
    update(app, key(KeyCode::Enter));
    update(
        app,
        reply(
            Purpose::Search(query.into()),
            ReplyData::SearchHits { hits },
        ),
    );
    update(app, key(KeyCode::Enter))
}

#[test]
fn a_failed_search_says_why_in_the_popup() {
    let mut app = chat_with_conversations();
    update(&mut app, ctrl('r'));
    type_text(&mut app, "x");
    update(&mut app, key(KeyCode::Enter));
    update(
        &mut app,
        AppEvent::Reply {
            purpose: Purpose::Search("x".into()),
            result: Err(RequestError {
                failure: crate::tui::action::Failure::RateLimited,
                message: "slow down".into(),
            }),
        },
    );
    let screen = format!("{}", render(&app, 80, 24).backend());
    assert!(screen.contains("The search failed: slow down"), "{screen}");
}

#[test]
fn a_decision_on_a_request_goes_to_the_group_where_the_user_waits() {
    let mut app = app("alice", "python");
    let rust = snapshot("alice", &[("alice", true)], &["carol"], 1);
    let python = snapshot("bob", &[("alice", true), ("bob", true)], &[], 1);
    feed(
        &mut app,
        [welcome_with(
            "alice",
            vec![
                conversation_in("python", JoinStatus::Member, Some(python), 1, 0),
                conversation_in("rust", JoinStatus::Admin, Some(rust), 1, 0),
            ],
        )],
    );
    assert_eq!(
        selected(&app),
        "python",
        "a group alice does not run is shown"
    );
    type_text(&mut app, "/approveRequest carol");
    assert_eq!(
        update(&mut app, AppEvent::Key(KeyEvent::from(KeyCode::Enter))),
        vec![Effect::Request(Purpose::Approve {
            conv: "rust".into(),
            name: "carol".into(),
        })],
        "carol waits in rust, the one group alice runs"
    );
    type_text(&mut app, "/rejectRequest dan");
    update(&mut app, AppEvent::Key(KeyEvent::from(KeyCode::Enter)));
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e.contains("admin only")),
        "nobody called dan waits anywhere"
    );
}
