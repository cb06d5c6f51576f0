from django.urls import path

from . import views

urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/rows/<path:component>", views.row, name="board-row"),
    path("board/health/<str:name>/", views.health, name="board-health"),
    path("board/<str:name>/deploy/", views.deploy, name="board-deploy"),
    path("board/<str:name>/promote/", views.promote, name="board-promote"),
    path("board/<str:name>/rollback/", views.rollback, name="board-rollback"),
]
