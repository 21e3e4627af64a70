"""One "API key required" rule: the generator, batch and the app say the same words."""

from __future__ import annotations

import pytest

from blog_images_tui.errors import AuthConfigError, ExitCode
from blog_images_tui.generation import ClientSettings, ImageGenerator
from blog_images_tui.secrets import ApiKey, require_api_key

WORDS = "OpenAI API key required: set OPENAI_AUTH_TOKEN (or OPENAI_API_KEY), "


def test_a_key_is_handed_back_and_a_missing_one_is_an_auth_error_with_the_remedy():
    key = ApiKey("sk-test-123456789", "OPENAI_AUTH_TOKEN")
    assert require_api_key(key) is key
    with pytest.raises(AuthConfigError) as cli:
        require_api_key(None)
    assert cli.value.message == WORDS + "or pass --api-key" and cli.value.exit_code == ExitCode.AUTH_CONFIG
    with pytest.raises(AuthConfigError) as app:
        require_api_key(None, remedy="then start blog-images again")
    assert app.value.message == WORDS + "then start blog-images again"


def test_the_generator_refuses_to_exist_without_a_key_in_the_same_words():
    with pytest.raises(AuthConfigError) as refused:
        ImageGenerator(ClientSettings(api_key=None))
    assert refused.value.message == WORDS + "or pass --api-key"
