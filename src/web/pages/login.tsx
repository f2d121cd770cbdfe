/** The only page shown without a token: asks for one and checks it against the API before keeping it. */
import { useState } from 'preact/hooks';
import { ApiError, call, session } from '../api.ts';

export function Login({ onLogin }: { onLogin: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<ApiError | Error>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await call('GET', '/v1/apps', undefined, { token: token.trim() });
      session.save(token.trim());
      onLogin();
    } catch (failure) {
      setError(failure as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit}>
        <h1>nearby</h1>
        <p>
          Sign in with an API token: the admin token <code>nearby server</code> wrote to{' '}
          <code>~/.nearby/admin-token</code>, or one made with <code>nearby tokens create</code>.
        </p>
        <label>
          API token
          <input
            name="token"
            type="password"
            autocomplete="off"
            required
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy || !token.trim()}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        {error && (
          <p class="error" role="alert">
            {error instanceof ApiError && error.status === 401
              ? `This token was refused: ${error.message}.`
              : `Could not sign in: ${error.message}`}
          </p>
        )}
      </form>
    </main>
  );
}
