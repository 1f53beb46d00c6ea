// The smallest page the server's tests need: the supervisor's version once logged in, the
// login view otherwise. The pages of the admin UI replace it.

const main = document.getElementById("main");

function show(...nodes) {
  main.replaceChildren(...nodes);
}

function paragraph(text, hook) {
  const p = document.createElement("p");
  p.textContent = text;
  if (hook) p.dataset.test = hook;
  return p;
}

async function dashboard() {
  const response = await fetch("/supervisor/info", { credentials: "same-origin" });
  if (response.status === 401) {
    show(paragraph("You are not logged in. Run `ha admin login` on the machine and open the link it prints.", "login-needed"));
    return;
  }
  const answer = await response.json();
  if (answer.result !== "ok") {
    const error = paragraph(answer.message, "error");
    error.setAttribute("role", "alert");
    show(error);
    return;
  }
  const version = document.createElement("span");
  version.dataset.test = "supervisor-version";
  version.textContent = answer.data.version;
  const line = paragraph("Supervisor version ");
  line.append(version);
  show(line);
}

dashboard();
