import { signIn, signOut, token, tokenToCookie } from "./auth";

test("the token is kept for the tab, and in the cookie the event stream carries (EventSource sets no header)", () => {
  const cookies: string[] = [];
  const setter = vi.spyOn(document, "cookie", "set").mockImplementation((value: string) => void cookies.push(value));
  signIn("  Bearer abc.def  "); // pasted with its scheme: the token is what follows
  expect(token()).toBe("abc.def");
  expect(sessionStorage.getItem("weir.token")).toBe("abc.def");
  expect(cookies.at(-1)).toBe("weir_token=abc.def; Path=/api/v1; SameSite=Strict");
  tokenToCookie();
  expect(cookies.at(-1)).toBe("weir_token=abc.def; Path=/api/v1; SameSite=Strict");
  signOut();
  expect(token()).toBeNull();
  expect(cookies.at(-1)).toBe("weir_token=; Path=/api/v1; Max-Age=0; SameSite=Strict");
  setter.mockRestore();
});
