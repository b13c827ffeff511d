//! `update` driven by events, as the running client drives it: keys,
//! replies and server pushes in, state and effects out.

mod conversations;
mod files;
mod history;
mod network;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use crate::{
    client::ClientEvent,
    protocol::{Body, Event, JoinStatus, ReplyData},
    tui::{
        action::{Effect, Failure, Purpose, RequestError, Target},
        app::{App, Conn, Popup, Screen},
        event::AppEvent,
        fixtures::{self, *},
        model::{Focus, timeline::ItemKind},
        settings::Settings,
        update::{screen::layout, start},
        view::widgets::inner,
    },
};

/// The message effect for `text`, the `id`th message queued.
fn send(id: u64, text: &str) -> Effect {
    Effect::Request(Purpose::Send {
        conv: "rust".into(),
        id,
        text: text.into(),
    })
}

fn reply(purpose: Purpose, data: ReplyData) -> AppEvent {
    AppEvent::Reply {
        purpose,
        result: Ok(data),
    }
}

fn input(app: &App) -> &str {
    chat(app).composer.value()
}

#[test]
fn enter_queues_the_line_and_keeps_it_in_history() {
    let mut app = chat_as_member();
    type_text(&mut app, "hello");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![send(1, "hello")]
    );
    assert_eq!(input(&app), "");
    type_text(&mut app, "draft");
    update(&mut app, key(KeyCode::Up));
    assert_eq!(input(&app), "hello");
    update(&mut app, key(KeyCode::Down));
    assert_eq!(input(&app), "draft");
    // An empty line sends nothing.
    let mut app = chat_as_member();
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
}

#[test]
fn a_refused_message_says_so_and_history_has_the_text() {
    let mut app = chat_as_member();
    type_text(&mut app, "lost words");
    update(&mut app, key(KeyCode::Enter));
    type_text(&mut app, "next");
    update(
        &mut app,
        AppEvent::Reply {
            purpose: Purpose::Send {
                conv: "rust".into(),
                id: 1,
                text: "lost words".into(),
            },
            result: Err(refused("message is too long")),
        },
    );
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e.starts_with("not sent") && e.contains("\"lost words\"")),
        "{:?}",
        last_kind(&app)
    );
    assert_eq!(input(&app), "next", "what is being typed is left alone");
    update(&mut app, key(KeyCode::Up));
    assert_eq!(input(&app), "lost words");
}

#[test]
fn a_wrong_command_is_an_inline_error_and_the_line_is_cleared_into_the_history() {
    let mut app = chat_as_member();
    type_text(&mut app, "/requests");
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("unknown command")));
    assert_eq!(input(&app), "", "the next command does not land after it");
    type_text(&mut app, "/whoAdmin");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![Effect::Request(Purpose::WhoAdmin("rust".into()))]
    );
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Up));
    assert_eq!(input(&app), "/requests", "one Up away to fix it");

    let mut app = chat_as_member();
    type_text(&mut app, "/kickMember carol");
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("admin only")));

    let mut app = chat_as_member();
    type_text(&mut app, "/approveRequest");
    update(&mut app, key(KeyCode::Enter));
    assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("needs a NAME")));
}

#[test]
fn commands_become_requests_and_replies_become_lines() {
    let mut app = chat_as_admin();
    for (line, purpose) in [
        (
            "/kickMember bob",
            Purpose::Kick {
                conv: "rust".into(),
                name: "bob".into(),
            },
        ),
        (
            "/changeAdmin bob",
            Purpose::ChangeAdmin {
                conv: "rust".into(),
                name: "bob".into(),
            },
        ),
        (
            "/approveRequest carol",
            Purpose::Approve {
                conv: "rust".into(),
                name: "carol".into(),
            },
        ),
        (
            "/rejectRequest dan",
            Purpose::Reject {
                conv: "rust".into(),
                name: "dan".into(),
            },
        ),
        ("/viewRequests", Purpose::ViewRequests("rust".into())),
        ("/allMembers", Purpose::AllMembers("rust".into())),
        ("/onlineMembers", Purpose::OnlineMembers("rust".into())),
        ("/whoAdmin", Purpose::WhoAdmin("rust".into())),
    ] {
        type_text(&mut app, line);
        assert_eq!(
            update(&mut app, key(KeyCode::Enter)),
            vec![Effect::Request(purpose)],
            "{line}"
        );
    }
    type_text(&mut app, "/disconnect");
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![Effect::Quit]);
    type_text(&mut app, "/fileTransfer notes.txt");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![Effect::SendFile {
            conv: "rust".into(),
            id: 1,
            path: "/home/bob/project/notes.txt".into()
        }]
    );
    update(
        &mut app,
        reply(
            Purpose::WhoAdmin("rust".into()),
            ReplyData::Admin {
                name: "alice".into(),
            },
        ),
    );
    assert_eq!(
        last_kind(&app),
        &ItemKind::Info("alice is the admin of #rust".into())
    );
    update(
        &mut app,
        reply(
            Purpose::AllMembers("rust".into()),
            ReplyData::Members {
                members: vec![
                    member("alice", "alice", true),
                    member("bob", "alice", false),
                ],
            },
        ),
    );
    assert_eq!(
        last_kind(&app),
        &ItemKind::Info("2 members: alice (admin, online), bob".into())
    );
}

#[test]
fn tab_completes_arguments_and_moves_focus_only_from_an_empty_line() {
    let mut app = chat_as_admin();
    type_text(&mut app, "/kic");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(input(&app), "/kickMember ");
    // The names the command takes, before a letter is typed.
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(
        input(&app),
        "/kickMember bob ",
        "alice is not offered: the only other"
    );
    type_text(&mut app, "x");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(
        chat(&app).focus,
        Focus::Input,
        "nothing to complete: focus stays"
    );

    let mut app = chat_as_admin();
    type_text(&mut app, "/approveRequest ");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(input(&app), "/approveRequest carol");
    assert_eq!(
        chat(&app).composer.completion().unwrap().candidates,
        ["carol", "dan"],
        "the candidates are shown"
    );
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(input(&app), "/approveRequest dan");

    let mut app = chat_as_admin();
    type_text(&mut app, "b");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(input(&app), "bob: ", "addressed, IRC-style");

    let mut app = chat_as_admin();
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(
        chat(&app).focus,
        Focus::Messages,
        "an empty line: next pane"
    );
    for expected in [Focus::Members, Focus::Requests, Focus::Input] {
        update(&mut app, key(KeyCode::Tab));
        assert_eq!(chat(&app).focus, expected);
    }
    update(&mut app, key(KeyCode::BackTab));
    assert_eq!(chat(&app).focus, Focus::Requests);
}

#[test]
fn typing_from_any_pane_reaches_the_input_line_and_does_nothing_else() {
    let mut app = chat_as_admin();
    for (hops, pane) in [
        (1, Focus::Messages),
        (2, Focus::Members),
        (3, Focus::Requests),
    ] {
        for _ in 0..hops {
            update(&mut app, key(KeyCode::Tab));
        }
        assert_eq!(chat(&app).focus, pane);
        let before = shown(&app).roster.clone();
        let scroll = chat(&app).timeline().scroll();
        for c in "my way, really nice: go gg ?xamr".chars() {
            assert!(update(&mut app, ch(c)).is_empty(), "{c} in {pane:?}");
        }
        assert_eq!(app.popup, None, "{pane:?}");
        assert_eq!(chat(&app).focus, Focus::Input);
        assert_eq!(input(&app), "my way, really nice: go gg ?xamr");
        assert_eq!(shown(&app).roster, before);
        assert_eq!(chat(&app).timeline().scroll(), scroll);
        chat_input_clear(&mut app);
    }
}

fn chat_input_clear(app: &mut App) {
    update(app, ctrl('u'));
    assert_eq!(input(app), "");
}

#[test]
fn approving_and_rejecting_ask_first_and_name_who() {
    let mut app = chat_as_admin();
    let effects = update(
        &mut app,
        AppEvent::Client(ClientEvent::Server(Event::JoinRequested {
            conv: "rust".into(),
            request: request("erin", 9),
        })),
    );
    assert_eq!(effects, vec![Effect::Bell]);
    assert!(
        matches!(last_kind(&app), ItemKind::Event(e) if e.contains("erin asks to join (F4 goes to the requests, then Enter to decide)"))
    );
    // The same request again (a reconnect) is not a second alert.
    let again = update(
        &mut app,
        AppEvent::Client(ClientEvent::Server(Event::JoinRequested {
            conv: "rust".into(),
            request: request("erin", 9),
        })),
    );
    assert!(again.is_empty());

    // F4 from the input line goes to the requests; Enter opens the menu.
    update(&mut app, key(KeyCode::F(4)));
    assert_eq!(chat(&app).focus, Focus::Requests);
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    let Some(Popup::Menu(menu)) = &app.popup else {
        panic!("no menu: {:?}", app.popup)
    };
    assert_eq!(menu.title, "carol asks to join #rust");
    update(&mut app, key(KeyCode::Enter));
    let Some(Popup::Confirm(confirm)) = &app.popup else {
        panic!("no question: {:?}", app.popup)
    };
    assert_eq!(
        confirm.question,
        "Let carol into #rust? They will read the recent messages."
    );
    assert_eq!(
        update(&mut app, ch('y')),
        vec![Effect::Request(Purpose::Approve {
            conv: "rust".into(),
            name: "carol".into()
        })]
    );
    assert_eq!(app.popup, None);
    // The reply changes nothing; the entry takes the request away.
    update(
        &mut app,
        reply(
            Purpose::Approve {
                conv: "rust".into(),
                name: "carol".into(),
            },
            ReplyData::Done,
        ),
    );
    assert_eq!(
        shown(&app).roster.requester_names(),
        ["carol", "dan", "erin"]
    );
    update(
        &mut app,
        entry(
            5,
            "alice",
            Body::MemberJoined {
                name: "carol".into(),
            },
        ),
    );
    assert_eq!(shown(&app).roster.requester_names(), ["dan", "erin"]);

    // Alt-r asks before rejecting; n says no.
    assert!(update(&mut app, alt('r')).is_empty());
    assert!(
        matches!(&app.popup, Some(Popup::Confirm(c)) if c.purpose == Purpose::Reject { conv: "rust".into(), name: "dan".into() })
    );
    assert!(update(&mut app, ch('n')).is_empty());
    assert_eq!(app.popup, None);
    update(&mut app, alt('r'));
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![Effect::Request(Purpose::Reject {
            conv: "rust".into(),
            name: "dan".into()
        })]
    );
    update(
        &mut app,
        reply(
            Purpose::Reject {
                conv: "rust".into(),
                name: "dan".into(),
            },
            ReplyData::Done,
        ),
    );
    assert_eq!(shown(&app).roster.requester_names(), ["erin"]);
}

#[test]
fn kick_and_make_admin_ask_first() {
    let mut app = chat_as_admin();
    feed(
        &mut app,
        [key(KeyCode::Tab), key(KeyCode::Tab), key(KeyCode::Down)],
    );
    assert_eq!(chat(&app).focus, Focus::Members);
    assert!(update(&mut app, alt('k')).is_empty());
    assert!(
        matches!(&app.popup, Some(Popup::Confirm(c)) if c.purpose == Purpose::Kick { conv: "rust".into(), name: "bob".into() } && c.question.starts_with("Remove bob from #rust?"))
    );
    assert!(update(&mut app, key(KeyCode::Esc)).is_empty());
    assert_eq!(app.popup, None);
    // Enter: the menu; its second choice, then yes.
    update(&mut app, key(KeyCode::Enter));
    feed(&mut app, [key(KeyCode::Down), key(KeyCode::Enter)]);
    assert_eq!(
        update(&mut app, ch('y')),
        vec![Effect::Request(Purpose::ChangeAdmin {
            conv: "rust".into(),
            name: "bob".into()
        })]
    );
    assert_eq!(app.popup, None);
    // Yourself: an error, no popup.
    update(&mut app, key(KeyCode::Up));
    update(&mut app, alt('k'));
    assert_eq!(app.popup, None);
    assert!(matches!(last_kind(&app), ItemKind::Error(e) if e == "you cannot kick yourself"));
    // Not the admin: an error, no popup.
    let mut app = chat_as_member();
    feed(&mut app, [key(KeyCode::Tab), key(KeyCode::Tab), alt('k')]);
    assert_eq!(app.popup, None);
    assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("only the admin")));
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.popup, None, "no menu for a member");
}

#[test]
fn losing_the_admin_role_hides_the_requests() {
    let mut app = chat_as_admin();
    update(&mut app, key(KeyCode::BackTab));
    update(
        &mut app,
        entry(5, "alice", Body::AdminChanged { to: "bob".into() }),
    );
    let conv = shown(&app);
    assert!(!conv.roster.is_admin());
    assert!(conv.roster.requests().is_empty());
    assert_eq!(chat(&app).focus, Focus::Input);
    assert_eq!(
        conv.roster.members()[0].name,
        "bob",
        "the admin is listed first"
    );
}

#[test]
fn the_divider_marks_what_came_while_away_once() {
    let mut app = fixtures::app("bob", "rust");
    resume_at(&mut app, "rust", 3);
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 5);
    feed(&mut app, [welcome("bob", JoinStatus::Member, Some(snap))]);
    feed(
        &mut app,
        [
            text(4, "alice", "one"),
            text(5, "alice", "two"),
            text(5, "alice", "two"),
            text(6, "alice", "live"),
        ],
    );
    let kinds: Vec<_> = chat(&app)
        .timeline()
        .items()
        .iter()
        .map(|i| &i.kind)
        .collect();
    assert!(matches!(kinds[0], ItemKind::Divider(_)));
    assert_eq!(
        kinds.len(),
        4,
        "divider + three messages, the duplicate dropped"
    );
    assert_eq!(shown(&app).seen, Some(6));
    assert_eq!(
        app.resume().get("rust"),
        Some(&6),
        "read, so resumed after it"
    );
    // A creator sees no divider.
    let mut app = fixtures::app("ann", "new");
    feed(
        &mut app,
        [welcome(
            "ann",
            JoinStatus::Created,
            Some(snapshot("ann", &[("ann", true)], &[], 1)),
        )],
    );
    feed(&mut app, [entry(1, "ann", Body::GroupCreated)]);
    assert!(
        !chat(&app)
            .timeline()
            .items()
            .iter()
            .any(|i| matches!(i.kind, ItemKind::Divider(_)))
    );
}

#[test]
fn mentions_ring_the_bell_and_count_as_unread() {
    let mut app = chat_as_member();
    assert_eq!(
        update(&mut app, text(5, "alice", "@bob look")),
        vec![Effect::Bell]
    );
    assert!(matches!(
        last_kind(&app),
        ItemKind::Chat { mention: true, .. }
    ));
    assert_eq!(
        update(&mut app, text(6, "alice", "bob: and this")),
        vec![Effect::Bell]
    );
    assert!(update(&mut app, text(7, "bob", "@bob talking to myself")).is_empty());
    let quiet = Settings {
        bell_on_mention: false,
        ..SETTINGS.clone()
    };
    assert!(
        crate::tui::update::update(&mut app, &quiet, text(8, "alice", "@bob again")).is_empty()
    );
    update(&mut app, AppEvent::FocusLost);
    update(&mut app, text(9, "alice", "hello?"));
    update(&mut app, text(10, "alice", "hello??"));
    assert_eq!(shown(&app).unread.count(), 2);
    assert_eq!(app.title(), "(2) pyconchat · #rust");
    update(&mut app, AppEvent::FocusGained);
    assert_eq!(shown(&app).unread.count(), 0);
}

#[test]
fn scrolling_holds_still_and_marks_new_messages() {
    let mut app = chat_as_member();
    for seq in 5..40 {
        update(&mut app, text(seq, "carol", "filler"));
    }
    update(&mut app, key(KeyCode::PageUp));
    let offset = chat(&app).timeline().scroll().offset;
    assert!(offset > 0);
    update(&mut app, text(40, "alice", "new"));
    assert_eq!(chat(&app).timeline().scroll().offset, offset + 1);
    assert_eq!(chat(&app).timeline().scroll().new_below, 1);
    update(
        &mut app,
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 10,
            row: 5,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(chat(&app).timeline().scroll().offset, offset + 1 - 3);
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::End));
    assert_eq!(chat(&app).timeline().scroll().offset, 0);
    assert_eq!(chat(&app).timeline().scroll().new_below, 0);
    update(&mut app, key(KeyCode::Home));
    assert!(chat(&app).timeline().scroll().offset > offset);
}

#[test]
fn ctrl_end_follows_the_newest_from_the_input_line_where_end_edits_the_line() {
    let mut app = chat_as_member();
    for seq in 5..40 {
        update(&mut app, text(seq, "carol", "filler"));
    }
    update(&mut app, key(KeyCode::PageUp));
    update(&mut app, key(KeyCode::End));
    assert!(
        chat(&app).timeline().scroll().offset > 0,
        "End stays in the line"
    );
    update(
        &mut app,
        AppEvent::Key(crossterm::event::KeyEvent::new(
            KeyCode::End,
            KeyModifiers::CONTROL,
        )),
    );
    assert_eq!(chat(&app).timeline().scroll().offset, 0);
}

#[test]
fn clicks_focus_panes_and_select_rows() {
    let mut app = chat_as_admin();
    let click = |column, row| {
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let layout = layout(app.size, chat(&app));
    let members = inner(layout.members.unwrap());
    update(&mut app, click(members.x + 1, members.y + 1));
    assert_eq!(chat(&app).focus, Focus::Members);
    assert_eq!(shown(&app).roster.selected_member(), 1);
    let requests = inner(layout.requests.unwrap());
    update(&mut app, click(requests.x, requests.y + 1));
    assert_eq!(chat(&app).focus, Focus::Requests);
    assert_eq!(shown(&app).roster.selected_request(), 1);
    update(
        &mut app,
        click(layout.messages.x + 3, layout.messages.y + 3),
    );
    assert_eq!(chat(&app).focus, Focus::Messages);
}

#[test]
fn a_multi_line_paste_is_one_message() {
    let mut app = chat_as_member();
    update(
        &mut app,
        AppEvent::Paste("first line\r\nsecond line\n".into()),
    );
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![send(1, "first line\nsecond line")]
    );
}

#[test]
fn the_login_form_connects_only_when_valid() {
    let mut app = fixtures::app("", "");
    start(&mut app, true);
    assert!(matches!(app.screen, Screen::Login(_)));
    type_text(&mut app, "ann");
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    let Screen::Login(form) = &app.screen else {
        panic!("not the login form")
    };
    assert_eq!(form.focus, 2, "focus moves to the empty group");
    assert!(form.no_group());
    type_text(&mut app, "#rust");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![Effect::Connect(Target {
            server: "127.0.0.1:7667".into(),
            name: "ann".into(),
            group: "rust".into()
        })],
        "the # the app writes before a group is taken off"
    );
    update(
        &mut app,
        AppEvent::Connected(Err(refused("cannot reach 127.0.0.1:7667: refused"))),
    );
    let Screen::Login(form) = &app.screen else {
        panic!("not the login form")
    };
    assert_eq!(
        form.error.as_deref(),
        Some("cannot reach 127.0.0.1:7667: refused")
    );
    assert_eq!(update(&mut app, key(KeyCode::Esc)), vec![Effect::Quit]);
}

#[test]
fn a_login_without_a_group_opens_the_users_conversations() {
    let mut app = fixtures::app("ann", "");
    let effects = start(&mut app, true);
    assert_eq!(
        effects,
        vec![Effect::Connect(Target {
            server: "127.0.0.1:7667".into(),
            name: "ann".into(),
            group: String::new(),
        })],
        "a known name and no group go straight to the conversations"
    );
}

#[test]
fn popups_take_keys_first() {
    let mut app = chat_as_member();
    update(&mut app, key(KeyCode::F(1)));
    assert!(matches!(app.popup, Some(Popup::Help { .. })));
    update(&mut app, ch('a'));
    assert_eq!(
        input(&app),
        "",
        "typing does not reach the input under a popup"
    );
    update(&mut app, key(KeyCode::Down));
    assert_eq!(app.popup, Some(Popup::Help { scroll: 1 }));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.popup, None);
    assert_eq!(update(&mut app, AppEvent::Terminate), vec![Effect::Quit]);
}

#[test]
fn screen_keys_redraw_toggle_the_mouse_and_the_side_panes() {
    let mut app = chat_as_member();
    assert_eq!(update(&mut app, ctrl('l')), vec![Effect::Redraw]);
    assert_eq!(
        update(&mut app, alt('m')),
        vec![Effect::CaptureMouse(false)]
    );
    assert!(!app.mouse_captured);
    let screen = format!("{}", render(&app, 80, 24).backend());
    assert!(screen.contains("mouse off (Alt-m)"), "{screen}");
    assert_eq!(update(&mut app, alt('m')), vec![Effect::CaptureMouse(true)]);
    update(&mut app, key(KeyCode::F(2)));
    assert!(!chat(&app).side_panes);
    assert_eq!(layout(app.size, chat(&app)).members, None);
    let mut login = fixtures::app("", "");
    assert_eq!(update(&mut login, ctrl('l')), vec![Effect::Redraw]);
}

/// A failure of kind `failure`.
fn failed(failure: Failure) -> RequestError {
    RequestError {
        failure,
        message: "no".into(),
    }
}

/// Replies `result` to the message `id` (`text`).
fn answer(app: &mut App, id: u64, text: &str, result: Result<u64, Failure>) -> Vec<Effect> {
    update(
        app,
        AppEvent::Reply {
            purpose: Purpose::Send {
                conv: "rust".into(),
                id,
                text: text.into(),
            },
            result: result.map(|seq| ReplyData::Sent { seq }).map_err(failed),
        },
    )
}

#[test]
fn fast_typing_is_queued_paced_and_shown_as_queued() {
    let mut app = chat_as_member();
    let t0 = app.now;
    let pace = SETTINGS.pace;
    let mut sent = Vec::new();
    for i in 1..=60 {
        type_text(&mut app, &format!("line {i}"));
        sent.extend(update(&mut app, key(KeyCode::Enter)));
    }
    assert_eq!(sent, vec![send(1, "line 1")], "one at a time");
    let screen = format!("{}", render(&app, 80, 24).backend());
    assert!(screen.contains("queued (59)"), "{screen}");
    // Each reply lets the next out, up to the burst.
    let mut next = 1;
    while let [Effect::Request(Purpose::Send { id, text, .. })] =
        answer(&mut app, next, &format!("line {next}"), Ok(100 + next)).as_slice()
    {
        next += 1;
        assert_eq!(
            (*id, text.as_str()),
            (next, format!("line {next}").as_str())
        );
    }
    assert_eq!(next, u64::from(pace.burst), "the burst is spent");
    assert_eq!(chat(&app).composer.outbox.queued(), 60 - next as usize);
    // Then the steady pace: a tick when the next may go.
    let wake = app.next_tick().expect("a timer for the queue");
    assert!(wake > t0);
    app.now = t0 + Duration::from_secs(1);
    let effects = update(&mut app, AppEvent::Tick);
    assert_eq!(effects, vec![send(next + 1, &format!("line {}", next + 1))]);
    // The server says not so fast: the same line waits and goes again.
    next += 1;
    assert!(
        answer(
            &mut app,
            next,
            &format!("line {next}"),
            Err(Failure::RateLimited)
        )
        .is_empty()
    );
    app.now += Duration::from_secs(2);
    assert_eq!(
        update(&mut app, AppEvent::Tick),
        vec![send(next, &format!("line {next}"))]
    );
}

#[test]
fn messages_typed_while_disconnected_go_on_reconnect_in_order_once() {
    let mut app = chat_as_member();
    type_text(&mut app, "in flight");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![send(1, "in flight")]
    );
    update(&mut app, connection_lost(1, Duration::from_secs(1), "gone"));
    // The connection dropped before the reply: the server may have it.
    assert!(answer(&mut app, 1, "in flight", Err(Failure::Lost)).is_empty());
    for text in ["typed offline", "and more"] {
        type_text(&mut app, text);
        assert!(update(&mut app, key(KeyCode::Enter)).is_empty(), "{text}");
    }
    assert_eq!(chat(&app).composer.outbox.queued(), 3);
    let screen = format!("{}", render(&app, 100, 24).backend());
    assert!(screen.contains("queued (3)"), "{screen}");
    // Back, with one entry to catch up on: the lost message, stored after all.
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 5);
    let back = reconnected(snap);
    assert!(
        update(&mut app, back).is_empty(),
        "nothing goes while catching up"
    );
    let effects = update(&mut app, text(5, "bob", "in flight"));
    assert_eq!(effects, vec![send(2, "typed offline")], "not sent twice");
    assert_eq!(
        answer(&mut app, 2, "typed offline", Ok(6)),
        vec![send(3, "and more")]
    );
    assert!(answer(&mut app, 3, "and more", Ok(7)).is_empty());
    assert_eq!(chat(&app).composer.outbox.queued(), 0);
}

#[test]
fn a_lost_message_the_server_never_stored_goes_again() {
    let mut app = chat_as_member();
    type_text(&mut app, "lost");
    update(&mut app, key(KeyCode::Enter));
    answer(&mut app, 1, "lost", Err(Failure::Lost));
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 4);
    let back = reconnected(snap);
    assert_eq!(
        update(&mut app, back),
        vec![send(1, "lost")],
        "nothing to catch up on"
    );
}

#[test]
fn a_kick_is_told_once_and_offers_to_ask_again() {
    let mut app = chat_as_member();
    type_text(&mut app, "unsent");
    update(&mut app, key(KeyCode::Enter));
    update(
        &mut app,
        server(Event::Kicked {
            conv: "rust".into(),
            by: "alice".into(),
        }),
    );
    assert_eq!(app.conn, Conn::Connected, "the connection stays");
    let said: Vec<_> = chat(&app)
        .timeline()
        .items()
        .iter()
        .filter(|i| matches!(&i.kind, ItemKind::Error(e) if e.contains("removed you")))
        .collect();
    assert_eq!(said.len(), 1, "told once");
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e == "alice removed you from #rust. /join rust asks to join again; /leave drops it from your list.")
    );
    assert!(
        chat(&app).timeline().items().iter().any(
            |i| matches!(&i.kind, ItemKind::Error(e) if e == "not sent (you were removed): \"unsent\"")
        ),
        "what waited to be sent is said not sent"
    );
    let roster = &shown(&app).roster;
    assert!(roster.removed(), "the members pane says it is stale");
    assert_eq!(
        roster.members().len(),
        3,
        "who was there stays in view, bob too"
    );
    type_text(&mut app, "more");
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e.starts_with("not sent: you are not in #rust"))
    );
    type_text(&mut app, "/join rust");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![Effect::Request(Purpose::Join("rust".into()))]
    );
}

#[test]
fn reconnect_now_hurries_a_waiting_reconnect() {
    let mut app = chat_as_member();
    update(
        &mut app,
        connection_lost(
            3,
            Duration::from_secs(20),
            "TLS: received fatal alert: see https://docs.rs/rustls",
        ),
    );
    assert_eq!(update(&mut app, key(KeyCode::F(5))), vec![Effect::Hurry]);
    type_text(&mut app, "/reconnect");
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![Effect::Hurry]);
    let shown = format!("{}", render(&app, 100, 24).backend());
    assert!(
        !shown.contains("rustls") && !shown.contains("docs.rs"),
        "{shown}"
    );
}

#[test]
fn presence_changes_are_gathered_in_one_line() {
    let mut app = chat_as_member();
    let before = chat(&app).timeline().items().len();
    for (name, online) in [
        ("carol", true),
        ("alice", false),
        ("carol", false),
        ("alice", false),
    ] {
        let event = if online {
            Event::MemberOnline {
                conv: "rust".into(),
                name: name.into(),
            }
        } else {
            Event::MemberOffline {
                conv: "rust".into(),
                name: name.into(),
            }
        };
        update(&mut app, AppEvent::Client(ClientEvent::Server(event)));
    }
    assert_eq!(chat(&app).timeline().items().len(), before + 1);
    let ItemKind::Presence(presence) = last_kind(&app) else {
        panic!("{:?}", last_kind(&app))
    };
    assert_eq!(presence.text(), "alice, carol went offline");
}

#[test]
fn focus_on_a_pane_that_goes_away_returns_to_the_input_line() {
    let mut app = chat_as_admin();
    update(&mut app, AppEvent::Resize(40, 12));
    update(&mut app, key(KeyCode::F(4)));
    assert_eq!(chat(&app).focus, Focus::Requests, "the requests pane shows");
    // Both requests decided: at 40 columns the pane goes with them.
    for (seq, name) in [(5, "carol"), (6, "dan")] {
        let joined = Body::MemberJoined { name: name.into() };
        update(&mut app, entry(seq, "alice", joined));
    }
    assert!(layout(app.size, chat(&app)).requests.is_none());
    assert_eq!(chat(&app).focus, Focus::Input);
    let screen = render(&app, 40, 12).backend().to_string();
    assert!(screen.contains("Enter"), "{screen}");
    assert!(
        !screen.contains("decide"),
        "no keys of a pane not shown:\n{screen}"
    );
}
