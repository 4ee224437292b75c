// The one bit of script the console uses: a Copy button for the token shown once.
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (_) {
      document.execCommand("copy");
    }
    button.textContent = "Copied";
  });
});
